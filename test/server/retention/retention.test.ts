import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import { buildApp } from '../../../server/app.ts';
import { Retention } from '../../../server/retention/retention.ts';
import { FsStore } from '../../../server/storage/fs.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { manifestFor } from '../../helpers/app.ts';
import { tempDir } from '../../helpers/tmp.ts';

// Saves and restores in flight across a collection, step by step through the real
// routes, on a clock the test moves.

const GRACE = 3_600_000;

async function setup(t: Test, maxBytes?: number) {
  const store = await new FsStore(tempDir(t, 'larder-retention')).init();
  const clock = { now: Date.now() + 1000 };
  const retention = new Retention(store, { caps: { maxBytes }, graceMs: GRACE, statusMaxAgeMs: 0, now: () => clock.now });
  const app = await buildApp({ store, retention });
  t.teardown(() => app.close());
  const put = async (data: Buffer): Promise<{ digest: string; status: number }> => {
    const digest = sha256Digest(data);
    const res = await app.inject({ method: 'PUT', url: `/v1/ns/ns/blobs/${digest}`, headers: { 'content-type': 'application/octet-stream' }, payload: data });
    return { digest, status: res.statusCode };
  };
  const publish = async (key: string, digests: string[]): Promise<number> => (await app.inject({ method: 'PUT', url: `/v1/ns/ns/entries/${key}`, payload: manifestFor(key, digests) })).statusCode;
  const blob = async (digest: string): Promise<number> => (await app.inject({ url: `/v1/ns/ns/blobs/${digest}` })).statusCode;
  return { app, store, clock, retention, put, publish, blob };
}

t.test('a save in flight: parts uploaded before a collection, published after it', async (t) => {
  const { clock, retention, put, publish, blob } = await setup(t);
  const part = await put(randomBytes(100));
  await retention.collectNow(); // finds the part unreferenced
  clock.now += GRACE - 60_000; // a long save, but inside the grace period
  await retention.collectNow();
  t.equal(await publish('k', [part.digest]), 201, 'the entry publishes: its part is still there');
  clock.now += GRACE;
  await retention.collectNow();
  t.equal(await blob(part.digest), 200, 'and stays: an entry uses it now');
});

t.test('a restore in flight: its entry evicted after the lookup, its parts read after the collection', async (t) => {
  const { app, clock, retention, put, publish, blob } = await setup(t, 3000);
  const old = await put(randomBytes(2000));
  t.equal(await publish('old', [old.digest]), 201);
  clock.now += 1000;
  const lookup = (await app.inject({ method: 'POST', url: '/v1/ns/ns/lookup', payload: { key: 'old' } })).json() as { match: string };
  t.equal(lookup.match, 'exact', 'the restore found its entry');
  clock.now += 1000;
  t.equal(await publish('new', [(await put(randomBytes(2000))).digest]), 201);
  const run = await retention.collectNow();
  t.match(run.evicted, { size: 1 }, 'the cap evicts the least recently used entry, the one being restored');
  t.equal((await app.inject({ url: '/v1/ns/ns/entries/old' })).statusCode, 404);
  clock.now += GRACE - 60_000;
  await retention.collectNow();
  t.equal(await blob(old.digest), 200, 'the restore still reads its part');
  clock.now += 120_000;
  await retention.collectNow();
  t.equal(await blob(old.digest), 404, 'a grace period later it is gone');
});

t.test('a save that counts on a doomed part is told it is missing, uploads it, and keeps it', async (t) => {
  const { app, clock, retention, put, publish, blob } = await setup(t);
  const data = randomBytes(100);
  const { digest } = await put(data);
  await retention.collectNow(); // unreferenced: doomed
  clock.now += GRACE - 60_000;
  const asked = (await app.inject({ method: 'POST', url: '/v1/ns/ns/blobs/missing', payload: { digests: [digest] } })).json() as { missing: string[] };
  t.same(asked.missing, [digest], 'stored, but doomed: missing to a save');
  await new Promise((r) => setTimeout(r, 1100)); // a new second, past the mark
  t.equal((await put(data)).status, 201, 'the upload writes it again');
  clock.now += 120_000; // the mark's grace period is over
  await retention.collectNow();
  t.equal(await blob(digest), 200, 'written after its doom: kept');
  t.equal(await publish('k', [digest]), 201);
});

t.test('restores through the routes count as use: the restored entry outlives a newer one', async (t) => {
  const { app, clock, retention, put, publish } = await setup(t, 3000);
  t.equal(await publish('first', [(await put(randomBytes(2000))).digest]), 201);
  clock.now += 1000;
  t.equal(await publish('second', [(await put(randomBytes(2000))).digest]), 201);
  clock.now += 1000;
  t.equal((await app.inject({ method: 'POST', url: '/v1/ns/ns/lookup', payload: { key: 'x', restoreKeys: ['fir'] } })).json().match, 'prefix');
  await retention.collectNow();
  t.equal((await app.inject({ url: '/v1/ns/ns/entries/first' })).statusCode, 200, 'restored a moment ago: kept');
  t.equal((await app.inject({ url: '/v1/ns/ns/entries/second' })).statusCode, 404, 'published before that, never restored: evicted');
});

t.test('metrics show the store against its caps and what the collector did', async (t) => {
  const { app, retention, put } = await setup(t, 10_000);
  await put(randomBytes(300));
  await retention.collectNow();
  const metrics = (await app.inject({ url: '/metrics' })).body;
  t.match(metrics, /larder_store_bytes \d+/);
  t.match(metrics, /larder_store_max_bytes 10000/);
  t.match(metrics, /larder_retention_doomed_blobs 1/);
  t.match(metrics, /larder_retention_last_run_success 1/);
  const stats = (await app.inject({ url: '/v1/stats' })).json() as { retention?: { maxBytes?: number; storedBytes?: number } };
  t.match(stats.retention, { maxBytes: 10_000, storedBytes: Number }, 'and /v1/stats, for the dashboard');
});
