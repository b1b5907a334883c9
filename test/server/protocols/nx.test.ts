import { mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runProcess } from '../../helpers/cli.ts';
import { protocolStats, READER, toolServer, WRITER } from '../../helpers/tool-cache.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The real Nx 24.0.6 against larder's self-hosted remote cache: a miss that runs and
// uploads, local cache wiped, a remote hit that restores the outputs without running; a
// read-only token's upload refused quietly (403), and a token the server does not know
// answered 404 on reads, so Nx carries on instead of failing the run.

const NX = fileURLToPath(new URL('../../../node_modules/.bin/nx', import.meta.url));
const NX_PACKAGE = fileURLToPath(new URL('../../../node_modules/nx', import.meta.url));

function workspace(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t, 'nx-ws');
  mkdirSync(join(root, 'apps', 'a'), { recursive: true });
  mkdirSync(join(root, 'node_modules'));
  symlinkSync(NX_PACKAGE, join(root, 'node_modules', 'nx'));
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'ws', private: true }));
  writeFileSync(join(root, 'nx.json'), JSON.stringify({ targetDefaults: { build: { cache: true } } }));
  writeFileSync(join(root, 'apps', 'a', 'project.json'), JSON.stringify({ name: 'a', targets: { build: { command: 'node apps/a/build.js', outputs: ['{projectRoot}/dist'], cache: true } } }));
  writeFileSync(join(root, 'apps', 'a', 'build.js'), "const fs = require('fs'); fs.mkdirSync('apps/a/dist', { recursive: true }); fs.writeFileSync('apps/a/dist/out.txt', 'nx built ' + 'y'.repeat(40000)); fs.appendFileSync(process.env.BUILDS_LOG, 'built\\n');\n");
  return root;
}

t.test('nx run: a miss runs and uploads; wiped, the next run restores from larder', async (t) => {
  const server = await toolServer(t);
  const root = workspace(t);
  const log = `${root}.builds.log`;
  const builds = () => readFileSync(log, 'utf8').split('\n').filter(Boolean).length;
  const nx = (token: string) =>
    runProcess(NX, ['run', 'a:build'], {
      cwd: root,
      env: { PATH: process.env.PATH, HOME: root, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false', NX_SELF_HOSTED_REMOTE_CACHE_SERVER: server.url, NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN: token, BUILDS_LOG: log },
    });
  const wipe = () => {
    for (const path of ['.nx', 'apps/a/dist']) rmSync(join(root, path), { recursive: true, force: true });
  };

  const first = await nx(WRITER);
  t.equal(first.code, 0, 'the first run succeeds', { output: first.out });
  const output = readFileSync(join(root, 'apps', 'a', 'dist', 'out.txt'));
  wipe();
  const second = await nx(READER);
  t.equal(second.code, 0, 'the second run succeeds', { output: second.out });
  t.match(second.out, /read the output from the cache|1\/1 hit/, 'a remote hit');
  t.equal(builds(), 1, 'the command did not run again');
  t.same(readFileSync(join(root, 'apps', 'a', 'dist', 'out.txt')), output, 'the outputs, byte for byte');

  // A read-only token: its upload is a quiet 403; an unknown token reads as a miss (404).
  writeFileSync(join(root, 'apps', 'a', 'input.txt'), 'changed');
  wipe();
  const readOnly = await nx(READER);
  t.equal(readOnly.code, 0, 'a run whose upload is refused still succeeds', { output: readOnly.out });
  wipe();
  const unknown = await nx('not-a-token');
  t.equal(unknown.code, 0, 'a run with a token the server does not know still succeeds', { output: unknown.out });
  t.equal(builds(), 3, 'both ran the command (misses)');
  const get = await fetch(`${server.url}/v1/cache/123`, { headers: { authorization: 'Bearer not-a-token' } });
  t.equal(get.status, 404, 'a read refused is a 404, never a 401 that would fail the run');
  await get.arrayBuffer();
  const put = await fetch(`${server.url}/v1/cache/123`, { method: 'PUT', headers: { authorization: `Bearer ${READER}`, 'content-type': 'application/octet-stream' }, body: 'x' });
  t.equal(put.status, 403, 'a write refused is a 403, which Nx takes quietly');
  await put.arrayBuffer();

  const stats = await protocolStats(server, 'nx');
  t.ok(stats && stats.hits >= 1 && stats.misses >= 2 && stats.writes >= 1, `counted per protocol: ${JSON.stringify(stats)}`);
});
