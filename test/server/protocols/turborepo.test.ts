import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runProcess } from '../../helpers/cli.ts';
import { protocolStats, READER, toolServer, WRITER } from '../../helpers/tool-cache.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The real turbo 2.11.11 against larder: a miss that builds and uploads, local state
// wiped, a remote hit that replays the outputs without building; a read-only token's
// upload refused in the way turbo takes quietly; the CORS preflight; signed artifacts.

const TURBO = fileURLToPath(new URL('../../../node_modules/.bin/turbo', import.meta.url));

function monorepo(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t, 'turbo-repo');
  mkdirSync(join(root, 'packages', 'app'), { recursive: true });
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'mono', private: true, workspaces: ['packages/*'], packageManager: 'npm@10.9.2' }));
  writeFileSync(join(root, 'package-lock.json'), JSON.stringify({ name: 'mono', lockfileVersion: 3, requires: true, packages: { '': { name: 'mono', workspaces: ['packages/*'] }, 'node_modules/app': { resolved: 'packages/app', link: true }, 'packages/app': { name: 'app', version: '1.0.0' } } }));
  writeFileSync(join(root, 'turbo.json'), JSON.stringify({ tasks: { build: { outputs: ['dist/**'], passThroughEnv: ['BUILDS_LOG'] } } }));
  writeFileSync(join(root, 'packages', 'app', 'package.json'), JSON.stringify({ name: 'app', version: '1.0.0', scripts: { build: 'node build.js' } }));
  writeFileSync(
    join(root, 'packages', 'app', 'build.js'),
    "const fs = require('fs'); fs.mkdirSync('dist', { recursive: true }); fs.writeFileSync('dist/out.txt', 'built ' + 'x'.repeat(50000)); fs.appendFileSync(process.env.BUILDS_LOG, 'built\\n'); console.log('building app');\n",
  );
  return root;
}

/** turbo's local state (and what tap's process hooks leave beside a node process it watched): gone, as on a fresh runner. */
function wipeLocal(root: string): void {
  for (const path of ['.turbo', 'node_modules/.cache', 'packages/app/dist', 'packages/app/.turbo', 'packages/app/.tap']) rmSync(join(root, path), { recursive: true, force: true });
}

// Each build appends a line here, outside the repository (turbo hashes what is inside it).
const builds = (root: string) => readFileSync(`${root}.builds.log`, 'utf8').split('\n').filter(Boolean).length;

t.test('turbo run: a miss builds and uploads; wiped, the next run is a remote hit', async (t) => {
  const server = await toolServer(t);
  const root = monorepo(t);
  const home = tempDir(t, 'turbo-home'); // turbo keeps its own config there, outside the repository it hashes
  const turbo = (token: string, extra: NodeJS.ProcessEnv = {}) =>
    runProcess(TURBO, ['run', 'build', '--cache=remote:rw'], { cwd: root, env: { PATH: process.env.PATH, HOME: home, TURBO_API: server.url, TURBO_TOKEN: token, TURBO_TEAM: 'team', TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', BUILDS_LOG: `${root}.builds.log`, ...extra } });

  const first = await turbo(WRITER);
  t.equal(first.code, 0, 'the first run succeeds', { output: first.out });
  t.match(first.out, /cache miss, executing/);
  const output = readFileSync(join(root, 'packages', 'app', 'dist', 'out.txt'));
  wipeLocal(root);
  const second = await turbo(READER);
  t.equal(second.code, 0, 'the second run succeeds', { output: second.out });
  t.match(second.out, /FULL TURBO/, 'a remote hit, for a token that only reads');
  t.equal(builds(root), 1, 'the build did not run again');
  t.same(readFileSync(join(root, 'packages', 'app', 'dist', 'out.txt')), output, 'the outputs, byte for byte');

  // A read-only token's upload: 403 in Turborepo's JSON, and turbo goes on reading.
  writeFileSync(join(root, 'packages', 'app', 'input.txt'), 'changed');
  const refused = await turbo(READER);
  t.equal(refused.code, 0, 'the run succeeds');
  t.equal(builds(root), 2, 'it built (a miss)');
  const put = await fetch(`${server.url}/v8/artifacts/0123456789abcdef?slug=team`, { method: 'PUT', headers: { authorization: `Bearer ${READER}`, 'content-type': 'application/octet-stream' }, body: 'x' });
  t.equal(put.status, 403);
  t.match(await put.json(), { error: { code: 'forbidden', message: /may not write/ } });

  // TURBO_PREFLIGHT: an OPTIONS first, which must allow Authorization.
  wipeLocal(root);
  const preflight = await turbo(WRITER, { TURBO_PREFLIGHT: 'true' });
  t.equal(preflight.code, 0, 'a run with a preflight succeeds', { output: preflight.out });
  t.equal(builds(root), 3, 'the changed input missed and built');
  wipeLocal(root);
  const afterPreflight = await turbo(WRITER, { TURBO_PREFLIGHT: 'true' });
  t.match(afterPreflight.out, /FULL TURBO/, 'and hit after, through the preflight');

  const stats = await protocolStats(server, 'turborepo');
  t.ok(stats && stats.hits >= 2 && stats.misses >= 2 && stats.writes >= 2 && stats.bytesOut > 0, `counted per protocol: ${JSON.stringify(stats)}`);
});

t.test('signed artifacts: the tag turbo sends comes back with the artifact, and the signed hit verifies', async (t) => {
  const server = await toolServer(t);
  const root = monorepo(t);
  writeFileSync(join(root, 'turbo.json'), JSON.stringify({ remoteCache: { signature: true }, tasks: { build: { outputs: ['dist/**'], passThroughEnv: ['BUILDS_LOG'] } } }));
  const env = { PATH: process.env.PATH, HOME: tempDir(t, 'turbo-home'), TURBO_API: server.url, TURBO_TOKEN: WRITER, TURBO_TEAM: 'team', TURBO_TELEMETRY_DISABLED: '1', DO_NOT_TRACK: '1', TURBO_REMOTE_CACHE_SIGNATURE_KEY: 'a-team-secret-for-signing', BUILDS_LOG: `${root}.builds.log` };
  t.equal((await runProcess(TURBO, ['run', 'build', '--cache=remote:rw'], { cwd: root, env })).code, 0);
  wipeLocal(root);
  const hit = await runProcess(TURBO, ['run', 'build', '--cache=remote:rw'], { cwd: root, env });
  t.match(hit.out, /FULL TURBO/, 'a hit whose signature verified');
  t.equal(builds(root), 1);
  const hash = /app:build: cache hit, replaying logs ([0-9a-f]+)/.exec(hit.out)?.[1];
  const get = await fetch(`${server.url}/v8/artifacts/${hash}?slug=team`, { headers: { authorization: `Bearer ${WRITER}` } });
  t.ok(get.headers.get('x-artifact-tag'), 'the tag is returned');
  await get.arrayBuffer();
});
