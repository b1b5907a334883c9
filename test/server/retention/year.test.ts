import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import t from 'tap';
import { buildApp } from '../../../server/app.ts';
import { Retention } from '../../../server/retention/retention.ts';
import { FsStore } from '../../../server/storage/fs.ts';
import type { Store } from '../../../server/storage/store.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import type { Manifest } from '../../../shared/wire/manifest.ts';
import { tempDir } from '../../helpers/tmp.ts';

// A year of CI traffic on one server with a capped store, a day at a time on an
// injected clock, through the real HTTP routes. Each namespace's lockfile changes on
// some days; a changed lockfile changes a few of its eight parts (the rest are shared
// with yesterday's entry, as npm trees are). Each day's build restores its key (falling
// back to the newest entry of its namespace) and saves on a miss; other jobs restore
// keys of the last two weeks (branches). The collector runs when a save passes the cap
// (as the server's trigger does) and again when the grace period ends.

const DAY = 86_400_000;
const GRACE = 3_600_000;
const CAP = 160 * 1024;
const NAMESPACES = ['web', 'api', 'ml'];
const PARTS = 8;

function random(seed: number): () => number {
  let state = seed;
  return () => ((state = (state * 1_103_515_245 + 12_345) % 2_147_483_648) / 2_147_483_648);
}

async function storedBytes(store: Store): Promise<number> {
  let bytes = 0;
  for (const ns of await store.listNamespaces()) {
    for await (const blob of store.listBlobs(ns)) bytes += blob.size;
    for (const entry of await store.allEntries(ns)) bytes += entry.size;
  }
  return bytes;
}

t.test('a simulated year: the store holds its cap, entries stay whole, and the hit rate is reported', async (t) => {
  // On tmpfs where there is one: a year of collections is a million file system calls.
  const store = await new FsStore(tempDir(t, 'larder-year', existsSync('/dev/shm') ? '/dev/shm' : undefined)).init();
  const clock = { now: Date.now() + 1000 };
  const retention = new Retention(store, { caps: { maxBytes: CAP }, graceMs: GRACE, now: () => clock.now });
  const app = await buildApp({ store, retention });
  t.teardown(() => app.close());
  const next = random(42);
  const versions = new Map(NAMESPACES.map((ns) => [ns, { version: 0, parts: Array.from({ length: PARTS }, () => randomBytes(2048 + Math.floor(next() * 6144))) }]));
  const history = new Map<string, string[]>(NAMESPACES.map((ns) => [ns, []]));
  const tally = { lookups: 0, exact: 0, prefix: 0, miss: 0, saves: 0, broken: 0, worstOver: -Infinity, builds: 0, buildsExact: 0 };
  const start = clock.now;

  const restore = async (ns: string, key: string): Promise<Manifest | undefined> => {
    const res = await app.inject({ method: 'POST', url: `/v1/ns/${ns}/lookup`, payload: { key, restoreKeys: [`${ns}-`] } });
    const answer = res.json() as { match: 'exact' | 'prefix' | 'none'; entry?: Manifest };
    tally.lookups++;
    tally[answer.match === 'none' ? 'miss' : answer.match]++;
    if (!answer.entry) return undefined;
    // A restore reads every part: none may be gone while its entry is served.
    for (const part of answer.entry.paths.flatMap((p) => p.parts)) {
      const head = await app.inject({ method: 'HEAD', url: `/v1/ns/${ns}/blobs/${part.digest}` });
      if (head.statusCode !== 200) tally.broken++;
    }
    return answer.entry;
  };

  const save = async (ns: string, key: string, parts: Buffer[]): Promise<number> => {
    const digests = parts.map((p) => sha256Digest(p));
    const { missing } = (await app.inject({ method: 'POST', url: `/v1/ns/${ns}/blobs/missing`, payload: { digests } })).json() as { missing: string[] };
    for (const [i, digest] of digests.entries()) {
      if (!missing.includes(digest)) continue;
      const put = await app.inject({ method: 'PUT', url: `/v1/ns/${ns}/blobs/${digest}`, headers: { 'content-type': 'application/octet-stream' }, payload: parts[i] });
      if (put.statusCode !== 201 && put.statusCode !== 200) t.fail(`part not stored: ${put.statusCode} ${put.body}`);
    }
    const manifest: Manifest = {
      version: 2, key, createdAt: new Date(clock.now).toISOString(), codec: 'zstd', inputs: {}, client: { version: 'sim', os: 'linux', arch: 'x64' },
      paths: [{ path: 'node_modules', files: PARTS, fileBytes: 0, parts: parts.map((p, i) => ({ digest: digests[i] as string, size: p.length, rawSize: p.length, entries: 1 })) }],
    };
    const published = await app.inject({ method: 'PUT', url: `/v1/ns/${ns}/entries/${key}`, payload: manifest });
    t.equal(published.statusCode, 201, 'published') || t.bailout();
    tally.saves++;
    return parts.reduce((n, p) => n + p.length, 0) + published.body.length + 400; // the entry's parts and manifest
  };

  for (let day = 0; day < 365; day++) {
    clock.now = start + day * DAY;
    for (const ns of NAMESPACES) {
      const current = versions.get(ns) as { version: number; parts: Buffer[] };
      if (next() < 0.3) {
        current.version++;
        for (let change = 0; change < 2; change++) current.parts[Math.floor(next() * PARTS)] = randomBytes(2048 + Math.floor(next() * 6144));
      }
      const key = `${ns}-lock-${current.version}`;
      const found = await restore(ns, key);
      tally.builds++;
      if (found?.key === key) tally.buildsExact++;
      else {
        const entryBytes = await save(ns, key, [...current.parts]);
        (history.get(ns) as string[]).push(key);
        const over = (await storedBytes(store)) - CAP;
        tally.worstOver = Math.max(tally.worstOver, over);
        if (over > entryBytes) t.fail(`day ${day}: ${over} bytes over the cap after a save of ${entryBytes}`);
        await retention.collectNow();
        clock.now += GRACE;
        await retention.collectNow();
        const after = await storedBytes(store);
        if (after > CAP) t.fail(`day ${day}: ${after} bytes after collection, over the ${CAP}-byte cap`);
        clock.now -= GRACE;
      }
      // Other jobs: branches two weeks old at most.
      const recent = (history.get(ns) as string[]).slice(-14);
      for (let job = 0; job < 3 && recent.length > 0; job++) await restore(ns, recent[Math.floor(next() * recent.length)] as string);
    }
  }
  const hitRate = (tally.exact + tally.prefix) / tally.lookups;
  const buildsExact = tally.buildsExact / tally.builds;
  t.comment(`a year: ${tally.lookups} restores, ${tally.saves} saves; hit rate ${(hitRate * 100).toFixed(1)}% (exact ${((tally.exact / tally.lookups) * 100).toFixed(1)}%; daily builds exact ${(buildsExact * 100).toFixed(1)}%); at most ${tally.worstOver} bytes over the ${CAP}-byte cap`);
  t.equal(tally.broken, 0, 'no entry was ever served with a part missing');
  t.ok(hitRate > 0.9 && buildsExact > 0.6, 'the cache kept working all year: daily builds mostly find their own key');
  t.ok(retention.view().status.totals.evicted > 0 && retention.view().status.totals.blobsCollected > 0, 'and it had to evict and collect to do so');
});
