import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { request } from 'undici';
import { FsStore } from '../server/storage/fs.ts';
import { S3Store } from '../server/storage/s3.ts';
import type { Store } from '../server/storage/store.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { log } from './larder.ts';
import { inTurn, type Row } from './measure.ts';
import { startServer } from './server.ts';

// Restore-key lookups as entries pile up: 10, 1,000 and 10,000 entries under one
// prefix, on the disk store and on S3 (when S3_ENDPOINT names one: test/s3/rgw-up.sh
// starts the suite's Ceph gateway). Each lookup goes through a real server process
// over HTTP and misses its exact key, so it falls back to the restore key. The
// baseline, in the same turns, is an exact-key lookup (one read of one manifest); the
// notes give what one full listing of the entries costs (what each lookup cost before
// the indexes).

const SIZES = [10, 1_000, 10_000];
const LOOKUPS = 20;

export async function lookupRows(work: string): Promise<Row[]> {
  const rows: Row[] = [];
  const backends: Array<{ name: string; make: (n: number) => Promise<{ store: Store; server: Awaited<ReturnType<typeof startServer>> }> }> = [
    {
      name: 'disk',
      make: async (n) => {
        const dir = join(work, `lookups-${n}`);
        return { store: await new FsStore(dir).init(), server: await startServer(dir) };
      },
    },
  ];
  const endpoint = process.env.S3_ENDPOINT;
  if (endpoint) {
    backends.push({
      name: 'S3 (Ceph)',
      make: async (n) => {
        const prefix = `bench-${randomBytes(4).toString('hex')}-${n}/`;
        const store = new S3Store({ bucket: process.env.S3_BUCKET ?? 'larder-test', prefix, endpoint, region: 'us-east-1', forcePathStyle: true });
        return { store, server: await startServer(`s3://${process.env.S3_BUCKET ?? 'larder-test'}/${prefix}`, ['--s3-endpoint', endpoint, '--s3-force-path-style']) };
      },
    });
  } else log('lookups: S3_ENDPOINT is not set; disk store only');
  for (const backend of backends) {
    for (const n of SIZES) {
      log(`lookups: ${backend.name}, ${n.toLocaleString('en-US')} entries`);
      const { store, server } = await backend.make(n);
      try {
        const manifest = Buffer.from(JSON.stringify({ version: 2, key: 'x', paths: [] }));
        await mapLimit(Array.from({ length: n }, (_, i) => `npm-linux-x64-${String(i).padStart(6, '0')}`), 32, (key) => store.putEntry('bench', key, manifest));
        // Steady state: entries published over weeks, whose journal records the hourly
        // sweep has trimmed, and a busy minute's worth of fresh publishes (one every 2 s).
        if (store instanceof S3Store) await store.trimJournals(Date.now() + 1);
        for (let i = 0; i < 30; i++) await store.putEntry('bench', `npm-linux-x64-recent-${i}`, manifest);
        const lookup = async (body: object): Promise<number> => {
          const started = performance.now();
          const res = await request(`${server.url}/v1/ns/bench/lookup`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' } });
          await res.body.text();
          return performance.now() - started;
        };
        const byPrefix = { key: 'npm-linux-x64-none', restoreKeys: ['npm-linux-x64-'] };
        const exact = { key: 'npm-linux-x64-000003' };
        await lookup(byPrefix); // the first builds the server's index
        const prefixMs: number[] = [];
        const exactMs: number[] = [];
        for (let round = 0; round < LOOKUPS; round++) await inTurn(round, async () => prefixMs.push(await lookup(byPrefix)), async () => exactMs.push(await lookup(exact)));
        const started = performance.now();
        await store.allEntries('bench');
        const listingMs = performance.now() - started;
        rows.push({
          scenario: 'restore-key lookup (ms)',
          corpus: `${backend.name}, ${n.toLocaleString('en-US')} entries`,
          larder: prefixMs,
          baselineName: 'exact-key lookup (ms)',
          baseline: exactMs,
          notes: `one full listing: ${listingMs.toFixed(1)} ms${backend.name === 'disk' ? '; goal ≤ 50 ms' : ''}`,
        });
      } finally {
        await server.stop();
        await store.close();
      }
    }
  }
  return rows;
}
