import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { snapshotTree } from '../helpers/trees.ts';

// Restores racing into one folder (two jobs sharing a checkout, a developer's second
// terminal): each ends as a hit or with a clear error, never an internal one, and the
// folder holds one whole tree afterwards.

t.test('four restores racing into one folder: hits or LARDER_TARGET_CHANGED, and a whole tree', async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'source');
  for (let p = 0; p < 20; p++) {
    mkdirSync(join(project, 'deps', `pkg-${p}`), { recursive: true });
    for (let f = 0; f < 50; f++) writeFileSync(join(project, 'deps', `pkg-${p}`, `f${f}.js`), `module.exports = ${p}_${f};\n`);
  }
  const env = { LARDER_SERVER: url };
  t.match(JSON.parse((await runLarder(['save', '--key', 'k', '--path', 'deps', '--json'], { cwd: project, env })).stdout), { outcome: 'saved' });
  const target = tempDir(t, 'shared');
  mkdirSync(join(target, 'deps'));
  for (let round = 0; round < 3; round++) {
    const results = await Promise.all(Array.from({ length: 4 }, () => runLarder(['restore', '--key', 'k', '--path', 'deps', '--json'], { cwd: target, env })));
    for (const result of results) {
      const report = JSON.parse(result.stdout);
      t.ok(report.outcome === 'hit' || report.error?.code === 'LARDER_TARGET_CHANGED', `round ${round}: ${report.outcome} ${report.error?.code ?? ''} ${report.error?.message ?? ''}`);
    }
    t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(project, 'deps')), `round ${round}: one whole tree`);
  }
  const again = await runLarder(['restore', '--key', 'k', '--path', 'deps', '--json'], { cwd: target, env });
  t.match(JSON.parse(again.stdout), { outcome: 'hit' });
  t.same(readdirSync(target).filter((n) => n.includes('.larder-')), [], 'the next restore swept whatever the race left');
});
