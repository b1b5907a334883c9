import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { Collector } from '../../../server/retention/collector.ts';
import type { Caps } from '../../../server/retention/policy.ts';
import { FsStore } from '../../../server/storage/fs.ts';
import type { Store } from '../../../server/storage/store.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { manifestFor } from '../../helpers/app.ts';
import { s3Skip, s3Store } from '../../helpers/external/s3.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { verifiedBody } from '../storage/contract.ts';

// The collector against real stores: the disk store, and the S3 store on the suite's
// Ceph gateway. Time is a clock the test moves; blob times are the store's own.

const GRACE = 3_600_000;

async function putBlob(store: Store, ns: string, data: Buffer, replace = false): Promise<string> {
  const digest = sha256Digest(data);
  await store.putBlob(ns, digest, verifiedBody(Readable.from([data]), digest, data.length), data.length, { replace });
  return digest;
}

async function blobsOf(store: Store, ns: string): Promise<string[]> {
  const found: string[] = [];
  for await (const blob of store.listBlobs(ns)) found.push(blob.digest);
  return found.sort();
}

function collector(store: Store, clock: { now: number }, caps: Caps = {}, holder = 'test-server'): Collector {
  return new Collector(store, { caps, graceMs: GRACE, holder, now: () => clock.now });
}

function collectorSuite(t: Test, makeStore: (t: Test) => Promise<Store>): void {
  t.test('an orphan (the parts of a save that failed) stays through the grace period, then goes', async (t) => {
    const store = await makeStore(t);
    const clock = { now: Date.now() };
    const orphan = await putBlob(store, 'ns', randomBytes(3000));
    const kept = await putBlob(store, 'ns', randomBytes(100));
    await store.putEntry('ns', 'k', Buffer.from(JSON.stringify(manifestFor('k', [kept]))));
    clock.now = Date.now(); // a run finds blobs after they were written
    const gc = collector(store, clock);
    const first = await gc.run();
    t.equal(first.summary.outcome, 'ok');
    t.ok(first.status?.doomed.ns?.[orphan], 'found unreferenced: doomed');
    t.notOk(first.status?.doomed.ns?.[kept], 'a part a live entry uses is not');
    clock.now += GRACE - 1000;
    t.same(await blobsOf(store, 'ns'), [kept, orphan].sort(), 'still there inside the grace period');
    t.equal((await gc.run()).summary.blobsCollected, 0);
    clock.now += 2000;
    const last = await gc.run();
    t.match(last.summary, { blobsCollected: 1, bytesReclaimed: 3000 });
    t.same(await blobsOf(store, 'ns'), [kept], 'gone after it');
    t.same(last.status?.doomed, {}, 'and no longer doomed');
    t.match(last.status?.totals, { blobsCollected: 1, bytesReclaimed: 3000 });
  });

  t.test("an evicted entry's own parts stay for the grace period, so a restore that read it goes on", async (t) => {
    const store = await makeStore(t);
    const clock = { now: Date.now() };
    const shared = await putBlob(store, 'ns', randomBytes(1000));
    const oldOwn = await putBlob(store, 'ns', randomBytes(1000));
    const newOwn = await putBlob(store, 'ns', randomBytes(1000));
    await store.putEntry('ns', 'old', Buffer.from(JSON.stringify(manifestFor('old', [shared, oldOwn]))));
    await new Promise((r) => setTimeout(r, 1100)); // S3 keeps whole seconds: 'old' is older
    await store.putEntry('ns', 'new', Buffer.from(JSON.stringify(manifestFor('new', [shared, newOwn]))));
    clock.now = Date.now();
    const gc = collector(store, clock, { maxBytes: 2500 });
    const run = await gc.run();
    t.match(run.summary.evicted, { size: 1 });
    t.equal(await store.getEntry('ns', 'old'), undefined, 'the least recently used entry is gone');
    t.ok(await store.getEntry('ns', 'new'));
    t.ok(await store.getBlob('ns', oldOwn), 'its part can still be read');
    t.ok(run.status?.usage && run.status.usage.liveBytes <= 2500, 'what lives is under the cap');
    clock.now += GRACE;
    await gc.run();
    t.same(await blobsOf(store, 'ns'), [shared, newOwn].sort(), 'after the grace period only its own part went');
  });

  t.test('a doomed blob written again (a save claimed it) is kept', async (t) => {
    const store = await makeStore(t);
    const clock = { now: Date.now() };
    const data = randomBytes(500);
    const blob = await putBlob(store, 'ns', data);
    clock.now = Date.now();
    const gc = collector(store, clock);
    t.ok((await gc.run()).status?.doomed.ns?.[blob]);
    await new Promise((r) => setTimeout(r, 2100)); // a later second than the mark, for S3's clock
    await putBlob(store, 'ns', data, true);
    clock.now += GRACE;
    const run = await gc.run();
    t.equal(run.summary.blobsCollected, 0);
    t.same(await blobsOf(store, 'ns'), [blob], 'written after its doom: kept');
    t.equal(run.status?.doomed.ns?.[blob], clock.now, 'nothing uses it: doomed again, from now');
  });

  t.test('one collector at a time: of two at once, one runs and the other says who holds the lease', async (t) => {
    const store = await makeStore(t);
    const clock = { now: Date.now() };
    await putBlob(store, 'ns', randomBytes(10));
    const runs = await Promise.all([collector(store, clock, {}, 'server-a').run(), collector(store, clock, {}, 'server-b').run()]);
    t.same(runs.map((r) => r.summary.outcome).sort(), ['ok', 'skipped']);
    t.match(runs.find((r) => r.summary.outcome === 'skipped')?.summary.reason, /collecting/);
    t.equal((await collector(store, clock, {}, 'server-b').run()).summary.outcome, 'ok', 'the lease is released when a run ends');
  });

  t.test('idle entries go, and access times come from the access logs', async (t) => {
    const store = await makeStore(t);
    const clock = { now: Date.now() };
    const day = 86_400_000;
    for (const key of ['used', 'unused']) await store.putEntry('ns', key, Buffer.from(JSON.stringify(manifestFor(key, [await putBlob(store, 'ns', randomBytes(50))]))));
    clock.now = Date.now() + 40 * day;
    await store.putMeta('retention/access/0000000000001-other-server-0.json', Buffer.from(JSON.stringify({ events: [['ns', 'used', clock.now - day]] })));
    const run = await collector(store, clock, { maxIdleMs: 30 * day }).run();
    t.match(run.summary.evicted, { idle: 1 });
    t.ok(await store.getEntry('ns', 'used'), 'restored yesterday on another server: kept');
    t.equal(await store.getEntry('ns', 'unused'), undefined, 'published 40 days ago, never restored: evicted');
    t.same(await store.listMeta('retention/access/'), [], 'merged logs are removed');
  });
}

t.test('disk store', async (t) => {
  collectorSuite(t, async (t) => new FsStore(tempDir(t, 'larder-gc')).init());
});

t.test('S3 store (real RADOS Gateway)', { skip: s3Skip }, async (t) => {
  collectorSuite(t, (t) => s3Store(t));
});
