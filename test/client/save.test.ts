import { execFileSync } from 'node:child_process';
import { utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../helpers/trees.ts';

// What a save publishes: parts that depend on what the tree holds, never on when it was
// written, so two fresh installs of one lockfile share every part.

const KEY = ['--restore-key', 'deps-', '--path', 'deps'];

/** Every file, folder and link of the tree gets this time, as a fresh install would. */
function touchAll(root: string, seconds: number): void {
  for (const entry of snapshotTree(root)) {
    if (entry.type !== 'symlink') utimesSync(join(root, entry.rel), seconds, seconds);
  }
}

t.test('the same tree written at another time shares every part, and each restore keeps its own times', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const first = tempDir(t, 'install-a');
  buildSampleTree(join(first, 'deps'));
  touchAll(join(first, 'deps'), 1_700_000_000);
  const a = await runLarder(['save', '--key', 'deps-a', ...KEY, '--json'], { cwd: first, env });
  t.equal(a.code, 0, a.stderr);
  const saveA = JSON.parse(a.stdout);
  t.match(saveA, { outcome: 'saved', partsReused: 0 });

  // A second install of the same content: same files, every time different.
  const second = tempDir(t, 'install-b');
  execFileSync('cp', ['-a', join(first, 'deps'), join(second, 'deps')]); // hard links kept
  touchAll(join(second, 'deps'), 1_800_000_123);
  const b = await runLarder(['save', '--key', 'deps-b', ...KEY, '--json'], { cwd: second, env });
  t.equal(b.code, 0, b.stderr);
  const saveB = JSON.parse(b.stdout);
  t.match(saveB, { outcome: 'saved', parts: saveA.parts, partsReused: saveA.parts, transferredBytes: 0 }, 'nothing uploaded: the parts do not hold times');

  for (const [key, source] of [['deps-a', first], ['deps-b', second]] as const) {
    const target = tempDir(t, `restore-${key}`);
    writeFileSync(join(target, 'marker'), '');
    const restored = await runLarder(['restore', '--key', key, '--path', 'deps', '--json'], { cwd: target, env });
    t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' });
    t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(source, 'deps')), `${key}: content, modes, links and its own times`);
  }
});
