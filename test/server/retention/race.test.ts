import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildApp } from '../../../server/app.ts';
import { Retention } from '../../../server/retention/retention.ts';
import { FsStore } from '../../../server/storage/fs.ts';
import { runLarder } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { snapshotTree } from '../../helpers/trees.ts';

// Collections racing real clients: larder processes save and restore eight keys, four
// at a time, while the collector runs back to back under a cap that holds about three
// entries, so entries are evicted while clients restore them, and their blobs are
// deleted (a grace period later) while other clients save the same trees again. No
// save and no restore may fail, and every restore must be the tree of its key.

const KEYS = 8;
const GRACE_MS = 6_000;

t.test('collections racing concurrent saves and restores: no client fails', async (t) => {
  const store = await new FsStore(tempDir(t, 'larder-race')).init();
  const retention = new Retention(store, { caps: { maxBytes: 3 * 220 * 1024 }, graceMs: GRACE_MS, statusMaxAgeMs: 0 });
  const app = await buildApp({ store, retention });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const makeProject = (key: string) => {
    const dir = tempDir(t, `larder-${key}`);
    for (let f = 0; f < 12; f++) {
      mkdirSync(join(dir, 'deps', `pkg${f % 4}`), { recursive: true });
      writeFileSync(join(dir, 'deps', `pkg${f % 4}`, `file${f}.bin`), f < 6 ? Buffer.alloc(20_000, f) : randomBytes(20_000)); // half shared by every key
    }
    return { dir, key, tree: snapshotTree(join(dir, 'deps')).map(({ mtime: _, ...rest }) => rest) };
  };
  const projects = Array.from({ length: KEYS }, (_, k) => makeProject(`race-${k}`));
  const env = { LARDER_SERVER: url, LARDER_NAMESPACE: 'race' };
  const failures: string[] = [];
  const tally = { saves: 0, hits: 0, misses: 0, runs: 0 };
  let stop = false;

  const collecting = (async () => {
    while (!stop) {
      const run = await retention.collectNow();
      if (run.outcome !== 'ok') failures.push(`collection ${run.outcome}: ${run.reason}`);
      tally.runs++;
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  const client = async (worker: number): Promise<void> => {
    for (let round = 0; !stop; round++) {
      // Every third round a tree saved once and never again: the eight keys come round so
      // often that their blobs are mostly written again within the grace period, and a fast
      // client may never let one be deleted; these are.
      const project = round % 3 === 2 ? makeProject(`race-once-${worker}-${round}`) : (projects[(worker * 3 + round) % KEYS] as (typeof projects)[number]);
      const saved = await runLarder(['save', '--key', project.key, '--path', 'deps', '--json'], { cwd: project.dir, env });
      const outcome = saved.stdout ? (JSON.parse(saved.stdout) as { outcome: string }).outcome : 'no report';
      if (saved.code !== 0 || !['saved', 'exists'].includes(outcome)) failures.push(`save ${project.key}: ${outcome} ${saved.stderr.trim()}`);
      else tally.saves++;
      const target = tempDir(t, 'larder-race-restore');
      const restored = await runLarder(['restore', '--key', project.key, '--path', 'deps', '--json'], { cwd: target, env });
      const report = restored.stdout ? (JSON.parse(restored.stdout) as { outcome: string; match?: string }) : { outcome: 'no report' };
      if (report.outcome === 'hit' && report.match === 'exact') {
        tally.hits++;
        const tree = snapshotTree(join(target, 'deps')).map(({ mtime: _, ...rest }) => rest);
        if (JSON.stringify(tree) !== JSON.stringify(project.tree)) failures.push(`restore ${project.key}: the tree differs`);
      } else if (report.outcome === 'miss') tally.misses++;
      else failures.push(`restore ${project.key}: ${report.outcome} ${restored.stderr.trim()}`);
    }
  };
  const deadline = Date.now() + 120_000;
  const clients = [0, 1, 2, 3].map(client);
  // Until deletions have raced the clients for a while (and at least 24 client rounds).
  while (Date.now() < deadline && (retention.view().status.totals.blobsCollected < 3 || tally.saves < 24)) await new Promise((r) => setTimeout(r, 250));
  stop = true;
  await Promise.all([...clients, collecting]);
  const { totals } = retention.view().status;
  t.comment(`${tally.saves} saves, ${tally.hits} hits, ${tally.misses} misses, ${tally.runs} collections; ${totals.evicted} evictions, ${totals.blobsCollected} blobs collected`);
  t.same(failures, [], 'no save, restore or collection failed');
  t.ok(totals.evicted > 0 && totals.blobsCollected >= 3, 'entries were evicted and blobs deleted while clients ran');
});
