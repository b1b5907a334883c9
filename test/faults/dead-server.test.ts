import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pseudoRandom } from '../../bench/corpora.ts';
import { runLarder } from '../helpers/cli.ts';
import { misbehavingProxy } from '../helpers/external/proxy.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';

// A cache must never cost a build more than a few seconds, whatever the server does.
// A black hole accepts TCP connections and never answers a byte.

async function blackHole(t: { teardown: (fn: () => void) => void }): Promise<string> {
  const sockets: Socket[] = [];
  const server = createServer((socket) => void sockets.push(socket.on('error', () => {})));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    server.close();
  });
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function timedLarder(args: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<{ seconds: number; code: number | null; stderr: string; stdout: string }> {
  const started = performance.now();
  const result = await runLarder(args, { cwd, env });
  return { ...result, seconds: (performance.now() - started) / 1000 };
}

t.test('a black-holed server costs each command at most ~10 s, with one warning line', async (t) => {
  const url = await blackHole(t);
  const project = tempDir(t, 'project');
  mkdirSync(join(project, 'deps'));
  writeFileSync(join(project, 'deps', 'a.js'), 'a');
  const env = { LARDER_SERVER: url };
  for (const command of ['restore', 'save']) {
    const result = await timedLarder([command, '--key', 'k', '--path', 'deps', '--json'], project, env);
    t.equal(result.code, 0, `${command}: the build goes on`);
    t.match(JSON.parse(result.stdout), { outcome: 'error', error: { code: 'LARDER_TIMEOUT' } });
    t.match(result.stderr, /did not answer within 8 s/);
    t.ok(result.seconds < 15, `${command} gave up in ${result.seconds.toFixed(1)} s (120 s before)`);
  }
  const run = await timedLarder(['run', '--key', 'k', '--path', 'deps', '--', 'true'], project, env);
  t.equal(run.code, 0);
  t.match(run.stderr, /not saving: the cache did not answer/);
  t.ok(run.seconds < 15, `larder run gave up on the cache once, in ${run.seconds.toFixed(1)} s`);
  const quicker = await timedLarder(['restore', '--key', 'k', '--path', 'deps', '--response-timeout', '1'], project, env);
  t.match(quicker.stderr, /did not answer within 1 s/, 'the timeout can be set');
  t.ok(quicker.seconds < 6, `${quicker.seconds.toFixed(1)} s`);
});

t.test('a download that stalls halfway is retried once; one that always stalls fails cleanly', async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'source');
  mkdirSync(join(project, 'deps'));
  writeFileSync(join(project, 'deps', 'a.bin'), pseudoRandom('stall', 1024 * 1024));
  t.match(JSON.parse((await runLarder(['save', '--key', 'k', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url } })).stdout), { outcome: 'saved' });

  for (const [stalls, outcome] of [[1, 'hit'], [Infinity, 'error']] as const) {
    let stalled = 0;
    const proxy = await misbehavingProxy(t, url, (req, res) => {
      if (req.method !== 'GET' || !req.url?.includes('/blobs/') || stalled >= stalls) return false;
      stalled++;
      void fetch(`${url}${req.url}`).then(async (answer) => {
        const bytes = Buffer.from(await answer.arrayBuffer());
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': bytes.length });
        res.write(bytes.subarray(0, bytes.length >> 1)); // then nothing more
      });
      return true;
    });
    const target = tempDir(t, 'target');
    const result = await timedLarder(['restore', '--key', 'k', '--path', 'deps', '--json', '--response-timeout', '1'], target, { LARDER_SERVER: proxy });
    const report = JSON.parse(result.stdout);
    t.equal(report.outcome, outcome, `stalling ${stalls} time(s): ${result.stderr}`);
    if (outcome === 'error') {
      t.match(report.error, { code: 'LARDER_TIMEOUT', message: /download of part sha256:\w+ stalled/ });
      t.notMatch(result.stderr, /\n\s+at /, 'no stack trace');
    }
    t.ok(result.seconds < 15, `${result.seconds.toFixed(1)} s`);
  }
});

t.test('a server URL without a scheme is a clear warning at once, not a two-minute hang', async (t) => {
  const project = tempDir(t, 'project');
  mkdirSync(join(project, 'deps'));
  for (const [how, args, env] of [['--server', ['--server', '127.0.0.1:7373'], {}], ['LARDER_SERVER', [], { LARDER_SERVER: 'localhost:7373' }]] as const) {
    const result = await timedLarder(['restore', '--key', 'k', '--path', 'deps', '--json', ...args], project, env);
    t.equal(result.code, 0, `${how}: the build goes on`);
    t.match(JSON.parse(result.stdout).error, { code: 'LARDER_USAGE', message: /must be an http:\/\/ or https:\/\/ URL; did you mean http:\/\/(127\.0\.0\.1|localhost):7373\?/ }, how);
    t.ok(result.seconds < 5, `${how}: ${result.seconds.toFixed(1)} s`);
  }
});
