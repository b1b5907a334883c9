import { performance } from 'node:perf_hooks';
import { mapLimit } from '../../shared/concurrency.ts';
import { type Manifest, manifestDigests } from '../../shared/wire/manifest.ts';
import type { EntryInfo, Store } from '../storage/store.ts';
import { readAccessEvents } from './access-log.ts';
import { acquireLease, releaseLease, renewLease } from './lease.ts';
import { type Caps, chooseEvictions, type LiveEntry } from './policy.ts';
import { ACCESS_PREFIX, type AccessState, type Clock, emptyStatus, parseOr, type RetentionStatus, type RunSummary, STATE, STATUS } from './state.ts';

// One collection: merge the servers' access logs, delete the blobs doomed a grace period
// ago that nobody has used or claimed since, evict entries past the caps, and doom the
// blobs no live entry references any more. Why nothing in flight breaks:
// - A blob is deleted a grace period after it was first found unreferenced, never in
//   the run that finds it so: a restore that read a manifest just before its entry was
//   evicted, and a save whose parts are uploaded but whose entry is not yet published,
//   have that long to finish.
// - A save that asks for a doomed blob is told it is missing (Retention.doomedAmong),
//   uploads it again, and the store writes it anew; a blob written after its doom is
//   kept (deleteBlob's unlessWrittenAfter), as is one a live entry uses again.
// - Every decision is made afresh from the store in each run, and each deletion checks
//   the blob once more, so two collectors at once (a lease that expired mid-run) can
//   only both delete what each alone would. The lease saves the second one the work.

export interface CollectorOptions {
  caps: Caps;
  /** how long a blob stays after it is found unreferenced */
  graceMs: number;
  /** this server's name in the lease and the summary */
  holder: string;
  now: Clock;
  /** how long the lease lasts unless renewed (default 10 minutes) */
  leaseTtlMs?: number;
}

const READ_CONCURRENCY = 16;
const DEFAULT_LEASE_TTL_MS = 10 * 60_000;

export class Collector {
  readonly #store: Store;
  readonly #options: CollectorOptions;
  /** entries never change: their parts are read once (keyed with their time and size, since a key can be published again) */
  readonly #digests = new Map<string, readonly string[]>();

  constructor(store: Store, options: CollectorOptions) {
    this.#store = store;
    this.#options = options;
  }

  /** One run; the status it wrote (undefined when another server holds the lease). */
  async run(): Promise<{ summary: RunSummary; status?: RetentionStatus }> {
    const { now, holder } = this.#options;
    const ttl = this.#options.leaseTtlMs ?? DEFAULT_LEASE_TTL_MS;
    const started = performance.now();
    const summary: RunSummary = { at: new Date(now()).toISOString(), by: holder, outcome: 'ok', seconds: 0, evicted: { idle: 0, quota: 0, size: 0 }, blobsCollected: 0, bytesReclaimed: 0 };
    const lease = await acquireLease(this.#store, holder, now, ttl);
    if ('heldBy' in lease) return { summary: { ...summary, outcome: 'skipped', reason: `${lease.heldBy} is collecting` } };
    try {
      const status = await this.#collect(summary, started, async () => {
        if (!(await renewLease(this.#store, lease, now, ttl))) throw new Error('the lease was lost to another server');
      });
      return { summary, status };
    } catch (err) {
      Object.assign(summary, { outcome: 'failed', reason: (err as Error).message, seconds: (performance.now() - started) / 1000 });
      return { summary };
    } finally {
      await releaseLease(this.#store, lease).catch(() => {});
    }
  }

  async #collect(summary: RunSummary, started: number, stillHeld: () => Promise<void>): Promise<RetentionStatus> {
    const { now, caps, graceMs } = this.#options;
    const store = this.#store;
    const state = parseOr<AccessState>((await store.getMeta(STATE))?.body, { access: {} });
    state.access ??= {};
    const status = { ...emptyStatus(), ...parseOr<Partial<RetentionStatus>>((await store.getMeta(STATUS))?.body, {}) };

    // What the servers saw restored and published since the last run.
    const logs = await store.listMeta(ACCESS_PREFIX);
    const bodies = await mapLimit(logs, READ_CONCURRENCY, async (name) => (await store.getMeta(name))?.body);
    for (const body of bodies) {
      for (const [ns, key, at] of body ? readAccessEvents(body) : []) {
        const of = (state.access[ns] ??= {});
        of[key] = Math.max(of[key] ?? 0, at);
      }
    }

    // What is stored.
    const entries: LiveEntry[] = [];
    const blobSizes = new Map<string, number>();
    const blobTimes = new Map<string, number>();
    let storedBytes = 0;
    const seen = new Set<string>();
    for (const ns of await store.listNamespaces()) {
      for await (const blob of store.listBlobs(ns)) {
        blobSizes.set(`${ns}/${blob.digest}`, blob.size);
        blobTimes.set(`${ns}/${blob.digest}`, blob.modifiedAt.getTime());
        storedBytes += blob.size;
      }
      const infos = await store.allEntries(ns);
      const digests = await mapLimit(infos, READ_CONCURRENCY, (info) => this.#digestsOf(ns, info, seen));
      for (const [i, info] of infos.entries()) {
        storedBytes += info.size;
        entries.push({ ns, key: info.key, size: info.size, lastAccess: state.access[ns]?.[info.key] ?? info.createdAt.getTime(), digests: digests[i] ?? [] });
      }
    }

    for (const id of this.#digests.keys()) if (!seen.has(id)) this.#digests.delete(id);

    // Blobs doomed a grace period ago, unless used or written again since.
    await stillHeld();
    const referenced = blobsUsedBy(entries);
    for (const [ns, doomed] of Object.entries(status.doomed)) {
      for (const [digest, doomedAt] of Object.entries(doomed)) {
        const id = `${ns}/${digest}`;
        const size = blobSizes.get(id);
        if (size === undefined || referenced.has(id) || (blobTimes.get(id) ?? 0) > doomedAt) delete doomed[digest];
        else if (now() - doomedAt >= graceMs) {
          delete doomed[digest];
          if (!(await store.deleteBlob(ns, digest, { unlessWrittenAfter: new Date(doomedAt) }))) continue;
          blobSizes.delete(id);
          storedBytes -= size;
          summary.blobsCollected++;
          summary.bytesReclaimed += size;
        }
      }
    }

    // Entries past the caps, least recently used first.
    const choice = chooseEvictions(entries, blobSizes, caps, now());
    for (const { entry, reason } of choice.evict) {
      if (await store.deleteEntry(entry.ns, entry.key)) storedBytes -= entry.size;
      delete state.access[entry.ns]?.[entry.key];
      summary.evicted[reason]++;
    }

    // Blobs nothing live uses any more: doomed now, deleted a grace period from now.
    const evicted = new Set(choice.evict.map((e) => e.entry));
    const stillUsed = blobsUsedBy(entries.filter((e) => !evicted.has(e)));
    for (const id of blobSizes.keys()) {
      if (stillUsed.has(id)) continue;
      const [ns, digest] = [id.slice(0, id.indexOf('/')), id.slice(id.indexOf('/') + 1)];
      const doomed = (status.doomed[ns] ??= {});
      doomed[digest] ??= now();
    }
    for (const [ns, doomed] of Object.entries(status.doomed)) if (Object.keys(doomed).length === 0) delete status.doomed[ns];
    // Access times of entries that are gone would only grow the state.
    const live = new Set(entries.filter((e) => !evicted.has(e)).map((e) => `${e.ns}/${e.key}`));
    for (const [ns, keys] of Object.entries(state.access)) {
      for (const key of Object.keys(keys)) if (!live.has(`${ns}/${key}`)) delete keys[key];
      if (Object.keys(keys).length === 0) delete state.access[ns];
    }

    summary.seconds = (performance.now() - started) / 1000;
    status.usage = { storedBytes, liveBytes: choice.live.bytes, entries: choice.live.entries, byNamespace: Object.fromEntries(choice.byNamespace) };
    status.lastRun = summary;
    status.totals = {
      evicted: status.totals.evicted + choice.evict.length,
      blobsCollected: status.totals.blobsCollected + summary.blobsCollected,
      bytesReclaimed: status.totals.bytesReclaimed + summary.bytesReclaimed,
    };
    await stillHeld();
    await store.putMeta(STATE, Buffer.from(JSON.stringify(state)));
    await store.putMeta(STATUS, Buffer.from(JSON.stringify(status)));
    // Only now: had the run failed before, the next one merges these logs again.
    await mapLimit(logs, READ_CONCURRENCY, (name) => store.deleteMeta(name));
    return status;
  }

  async #digestsOf(ns: string, info: EntryInfo, seen: Set<string>): Promise<readonly string[]> {
    const id = `${ns}/${info.key}/${info.createdAt.getTime()}/${info.size}`;
    seen.add(id);
    const known = this.#digests.get(id);
    if (known) return known;
    const body = await this.#store.getEntry(ns, info.key);
    const manifest = parseOr<Partial<Manifest>>(body, {});
    const digests = Array.isArray(manifest.paths) ? manifestDigests(manifest as Manifest) : [];
    if (body) this.#digests.set(id, digests);
    return digests;
  }
}

/** The blobs (namespace/digest) these entries use. */
function blobsUsedBy(entries: readonly LiveEntry[]): Set<string> {
  return new Set(entries.flatMap((e) => e.digests.map((d) => `${e.ns}/${d}`)));
}
