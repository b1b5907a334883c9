import { randomBytes } from 'node:crypto';
import t from 'tap';
import { buildApp } from '../../../server/app.ts';
import { Retention } from '../../../server/retention/retention.ts';
import { S3Store } from '../../../server/storage/s3.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { manifestFor } from '../../helpers/app.ts';
import { s3Skip, s3StoreOptions } from '../../helpers/external/s3.ts';

// Two servers on one Ceph bucket, each with its own retention, as a fleet behind a load
// balancer runs: one collects at a time, a restore on one server keeps an entry that
// the other's collection would evict, and a doomed blob is missing to saves on both.

t.test('two servers on one bucket: one collector, shared access times, shared doom', { skip: s3Skip }, async (t) => {
  const options = await s3StoreOptions();
  const clock = { now: Date.now() + 2000 };
  const servers = await Promise.all(['a', 'b'].map(async () => {
    const store = new S3Store(options);
    const retention = new Retention(store, { caps: { maxBytes: 3 * 2600 }, graceMs: 3_600_000, statusMaxAgeMs: 0, now: () => clock.now });
    const app = await buildApp({ store, retention });
    t.teardown(() => app.close());
    return { store, retention, app };
  }));
  const [a, b] = servers as [(typeof servers)[number], (typeof servers)[number]];
  const digests: string[] = [];
  for (const key of ['e1', 'e2', 'e3', 'e4']) {
    const data = randomBytes(2000);
    const digest = sha256Digest(data);
    digests.push(digest);
    t.equal((await a.app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${digest}`, headers: { 'content-type': 'application/octet-stream' }, payload: data })).statusCode, 201);
    t.equal((await a.app.inject({ method: 'PUT', url: `/v1/ns/team/entries/${key}`, payload: manifestFor(key, [digest]) })).statusCode, 201);
    clock.now += 1000;
  }
  const found = (await b.app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: { key: 'none', restoreKeys: ['e1'] } })).json() as { match: string; key: string };
  t.same([found.match, found.key], ['prefix', 'e1'], 'server b sees what a published, and restores the oldest entry');
  t.equal((await b.app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: { key: 'none', restoreKeys: ['e'] } })).json().key, 'e4', 'the newest, by the publish journal');
  await b.retention.accessLog.flush(b.store);

  const runs = await Promise.all([a.retention.collectNow(), b.retention.collectNow()]);
  t.same(runs.map((r) => r.outcome).sort(), ['ok', 'skipped'], 'one collects; the other is told who holds the lease');
  const ran = runs.find((r) => r.outcome === 'ok');
  t.match(ran?.evicted, { size: 1 }, 'four entries over a cap of three: one goes');
  const exists = async (key: string): Promise<boolean> => (await a.app.inject({ url: `/v1/ns/team/entries/${key}` })).statusCode === 200;
  t.same(await Promise.all(['e1', 'e2', 'e3', 'e4'].map(exists)), [true, false, true, true], 'e2 goes, not e1: restored on server b a moment ago');
  const missing = await Promise.all([a, b].map(async (s) => (await s.app.inject({ method: 'POST', url: '/v1/ns/team/blobs/missing', payload: { digests } })).json().missing));
  t.same(missing, [[digests[1]], [digests[1]]], "e2's part is doomed: missing to saves on both servers");
  t.equal((await b.app.inject({ url: `/v1/ns/team/blobs/${digests[1]}` })).statusCode, 200, 'but readable by a restore in flight');

  clock.now += 3_600_000;
  const second = await b.retention.collectNow();
  t.match(second, { outcome: 'ok', blobsCollected: 1, bytesReclaimed: 2000 }, 'the other server collects the next time');
  t.equal((await a.app.inject({ url: `/v1/ns/team/blobs/${digests[1]}` })).statusCode, 404);
  t.equal((await a.app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: { key: 'none', restoreKeys: ['e2'] } })).json().match, 'none', 'and server a no longer offers e2');
});
