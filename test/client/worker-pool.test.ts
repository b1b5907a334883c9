import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { walkTree } from '../../client/tree.ts';
import { PartWorkers } from '../../client/worker-pool.ts';
import { finishTree } from '../../client/finish-tree.ts';
import { tempDir } from '../helpers/tmp.ts';
import { startServer } from '../helpers/server.ts';
import { CacheClient } from '../../client/transfer.ts';

t.test('a pool warmed for packing still extracts: each worker loads the other code on demand', async (t) => {
  const server = await startServer(t);
  const src = tempDir(t);
  mkdirSync(join(src, 'lib'));
  writeFileSync(join(src, 'lib/a.js'), 'module.exports = 1;\n');
  const workers = new PartWorkers(2, { server: server.url, namespace: 'pool' });
  t.teardown(() => workers.terminate());
  workers.warm('pack');
  const packed = await workers.pack({ root: src, entries: walkTree(src).entries, level: 3, bufferLimit: 1 << 20 });
  t.ok(packed.bytes, 'packed in memory');
  const client = new CacheClient({ server: server.url, namespace: 'pool' });
  await client.putBlob(packed.ref.digest, packed.ref.size, () => packed.bytes as Buffer);
  const out = tempDir(t);
  const extracted = await workers.extract(packed.ref, out);
  finishTree(out, [extracted]);
  t.equal(readFileSync(join(out, 'lib/a.js'), 'utf8'), 'module.exports = 1;\n');
});

t.test('a job on a terminated pool fails with a stable code', async (t) => {
  const workers = new PartWorkers(1, { namespace: 'pool' });
  workers.warm('pack');
  await workers.terminate();
  await t.rejects(workers.pack({ root: '/nonexistent', entries: [], level: 3, bufferLimit: 1 }), { code: 'LARDER_INTERNAL' });
});
