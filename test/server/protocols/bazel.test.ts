import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runProcess } from '../../helpers/cli.ts';
import { protocolStats, toolServer, WRITER } from '../../helpers/tool-cache.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The real Bazel (2.1.0, from npm) with larder as its HTTP remote cache: a build that
// runs its action and uploads the result, `bazel clean --expunge`, and a build whose
// action is a remote cache hit with the same output. A CAS upload that does not hash to
// its name is refused, and nothing is stored.

const BAZEL = fileURLToPath(new URL('../../../node_modules/.bin/bazel', import.meta.url));

t.test('bazel build: the action runs once; after clean --expunge it is a remote cache hit', async (t) => {
  const server = await toolServer(t);
  const ws = tempDir(t, 'bazel-ws');
  const root = tempDir(t, 'bazel-root');
  const log = `${ws}.actions.log`;
  writeFileSync(join(ws, 'WORKSPACE'), '');
  writeFileSync(join(ws, 'in.txt'), 'hello larder from bazel\n');
  writeFileSync(join(ws, 'BUILD'), `genrule(\n    name = "out",\n    srcs = ["in.txt"],\n    outs = ["out.txt"],\n    cmd = "tr a-z A-Z < $< > $@ && echo ran >> ${log}",\n)\n`);
  const bazel = (...args: string[]) => runProcess(BAZEL, [`--output_user_root=${root}`, '--batch', ...args], { cwd: ws, env: { PATH: process.env.PATH, HOME: ws } });
  const build = () => bazel('build', '//:out', `--remote_cache=${server.url}/bazel/team`, `--remote_header=Authorization=Bearer ${WRITER}`, '--noshow_progress');

  const first = await build();
  t.equal(first.code, 0, 'built', { output: first.out });
  const output = readFileSync(join(ws, 'bazel-bin', 'out.txt'));
  t.equal((await bazel('clean', '--expunge')).code, 0);
  const second = await build();
  t.equal(second.code, 0, 'built again', { output: second.out });
  t.match(second.out, /1 remote cache hit/, 'a remote cache hit');
  t.equal(readFileSync(log, 'utf8').trim().split('\n').length, 1, 'the action ran once');
  t.same(readFileSync(join(ws, 'bazel-bin', 'out.txt')), output, 'the same output');
  const stats = await protocolStats(server, 'bazel');
  t.ok(stats && stats.hits >= 2 && stats.writes >= 2, `ac and cas counted per protocol: ${JSON.stringify(stats)}`);

  const body = Buffer.from('these bytes');
  const wrong = createHash('sha256').update('other bytes').digest('hex');
  const refused = await fetch(`${server.url}/bazel/team/cas/${wrong}`, { method: 'PUT', headers: { authorization: `Bearer ${WRITER}` }, body });
  t.equal(refused.status, 400, 'a CAS body that does not hash to its name');
  t.match(await refused.json(), { code: 'LARDER_DIGEST_MISMATCH' });
  const absent = await fetch(`${server.url}/bazel/team/cas/${wrong}`, { headers: { authorization: `Bearer ${WRITER}` } });
  t.equal(absent.status, 404, 'was not stored');
  await absent.arrayBuffer();
  const right = createHash('sha256').update(body).digest('hex');
  t.equal((await fetch(`${server.url}/bazel/team/ac/${wrong}`, { method: 'PUT', headers: { authorization: `Bearer ${WRITER}` }, body })).status, 200, 'an AC body is not checked against its name (it is keyed by the action)');
  t.equal((await fetch(`${server.url}/bazel/team/cas/${right}`, { method: 'PUT', headers: { authorization: `Bearer ${WRITER}` }, body })).status, 200);
});
