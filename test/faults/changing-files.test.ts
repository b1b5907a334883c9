import { execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { pseudoRandom } from '../../bench/corpora.ts';
import { runLarder } from '../helpers/cli.ts';
import { misbehavingProxy } from '../helpers/external/proxy.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';

// A file that changes while a save reads it (a build still writing) must fail the save
// clearly, as GNU tar's "file changed as we read it" does, and nothing is published:
// a torn file served as an exact hit would break every later build.

t.test('a file growing while the save reads it fails the save, and nothing is published', async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'project');
  for (let p = 0; p < 30; p++) {
    mkdirSync(join(project, 'deps', `pkg-${p}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(project, 'deps', `pkg-${p}`, `f${f}.js`), `module.exports = ${p * 1000 + f};\n`.repeat(50));
  }
  const log = join(project, 'deps', 'pkg-0', 'build.log');
  writeFileSync(log, 'starting\n');
  // A build step still writing: appends to a file in the tree the whole time.
  const writer = spawn('sh', ['-c', `while :; do echo line >> '${log}'; done`], { stdio: 'ignore' });
  t.teardown(() => void writer.kill('SIGKILL'));
  await new Promise((r) => setTimeout(r, 100));
  const saved = await runLarder(['save', '--key', 'k', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url } });
  writer.kill('SIGKILL');
  t.equal(saved.code, 0, 'a cache failure never fails the build');
  t.match(JSON.parse(saved.stdout), { outcome: 'error', error: { code: 'LARDER_PATH_CHANGED', message: /pkg-0\/build\.log changed while it was being saved \(\d+ → \d+ bytes\)/ } });
  t.equal((await fetch(`${url}/v1/ns/default/entries/k`)).status, 404, 'nothing published');
});

// A part of jars is stored, and its upload reads its files again (client/archive/reread.ts):
// a jar rewritten between the packing and the upload must fail the save too, whether its
// size and time show it or only the server's digest check does.

t.test('a jar rewritten after its part was packed, before its upload: the save fails, and nothing is published', async (t) => {
  const { url } = await startServer(t);
  for (const keepTime of [false, true]) {
    const project = tempDir(t, 'project');
    const jar = join(project, 'repo', 'org', 'lib', '1.0', 'lib-1.0.jar');
    mkdirSync(dirname(jar), { recursive: true });
    writeFileSync(jar, pseudoRandom('jar', 3 * 1024 * 1024));
    const times = join(project, 'times');
    execFileSync('touch', ['-r', jar, times]); // the jar's times, to the nanosecond
    // Between the question whether the part is stored and its upload, a build rewrites the jar.
    const proxy = await misbehavingProxy(t, url, (req) => {
      if (req.method === 'POST' && req.url?.endsWith('/blobs/missing')) {
        writeFileSync(jar, pseudoRandom('another jar', 3 * 1024 * 1024));
        if (keepTime) execFileSync('touch', ['-r', times, jar]);
      }
      return false;
    });
    const saved = await runLarder(['save', '--key', `k-${keepTime}`, '--path', 'repo', '--json'], { cwd: project, env: { LARDER_SERVER: proxy } });
    t.equal(saved.code, 0, 'a cache failure never fails the build');
    const report = JSON.parse(saved.stdout);
    if (keepTime) t.match(report, { outcome: 'error', error: { code: 'LARDER_PATH_CHANGED', message: /a file in .*repo changed between its packing and its upload/ } }, 'the same size and time: the server\'s digest check refuses the bytes, and the save says why');
    else t.match(report, { outcome: 'error', error: { code: 'LARDER_PATH_CHANGED', message: /lib-1\.0\.jar changed while it was being saved \(rewritten\)/ } }, 'a new time: the upload\'s own check');
    t.notMatch(saved.stderr, /\n\s+at /, 'no stack trace');
    t.equal((await fetch(`${url}/v1/ns/default/entries/k-${keepTime}`)).status, 404, 'nothing published');
  }
});
