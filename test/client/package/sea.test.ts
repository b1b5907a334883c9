import { existsSync, mkdirSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildExecutable } from '../../../client/package/sea.ts';
import { runProcess as run } from '../../helpers/cli.ts';
import { startServer } from '../../helpers/server.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../../helpers/trees.ts';

// The single executable on a machine with no Node: PATH holds a shell and coreutils
// only. It saves, restores (its part workers run from an asset inside it) and runs a
// command, as on a Maven or pip image.


t.test('the executable saves, restores and runs with no node on PATH', async (t) => {
  const larder = await buildExecutable(tempDir(t, 'executable'));
  const bin = tempDir(t, 'bin-without-node');
  for (const tool of ['sh', 'echo', 'cat', 'rm', 'mkdir']) {
    const found = ['/usr/bin', '/bin'].map((d) => join(d, tool)).find((p) => existsSync(p));
    if (found) symlinkSync(found, join(bin, tool));
  }
  const { url } = await startServer(t);
  const project = tempDir(t, 'project');
  buildSampleTree(join(project, 'deps'));
  const env = { PATH: bin, HOME: project, LARDER_SERVER: url };
  t.equal((await run('sh', ['-c', 'command -v node || echo none'], { cwd: project, env })).out.trim(), 'none', 'no node on PATH');
  const want = JSON.stringify(snapshotTree(join(project, 'deps')));

  const saved = await run(larder, ['save', '--key', 'exe-1', '--path', 'deps', '--strict'], { cwd: project, env });
  t.equal(saved.code, 0, saved.out);
  await run('rm', ['-rf', join(project, 'deps')], { cwd: project, env: process.env });
  const restored = await run(larder, ['restore', '--key', 'exe-1', '--path', 'deps', '--strict'], { cwd: project, env });
  t.equal(restored.code, 0, restored.out);
  t.equal(JSON.stringify(snapshotTree(join(project, 'deps'))), want, 'the same tree');
  mkdirSync(join(project, 'other'));
  const ran = await run(larder, ['run', '--key', 'exe-2', '--path', 'other', '--', 'sh', '-c', 'echo built > other/out'], { cwd: project, env });
  t.equal(ran.code, 0, ran.out);
  t.match(ran.out, /larder save: saved exe-2/, 'run ran the command and saved');
});
