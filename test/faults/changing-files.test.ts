import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runLarder } from '../helpers/cli.ts';
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
