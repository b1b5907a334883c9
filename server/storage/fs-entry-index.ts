import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { mapLimit } from '../../shared/concurrency.ts';
import { lowerBound } from './sorted-keys.ts';
import { type EntryInfo, newestFirst } from './store.ts';

// The disk store's entries of one namespace, in memory, sorted by key, so a restore key
// is a binary search instead of a readdir and a stat per entry (176 ms for 32 restore
// keys at 10,000 entries before). Entries are immutable files, so what is known of one
// stays true until its name goes. The folder's mtime says whether anything was added or
// removed since the last look, by this server or any other process. The kernel stamps
// mtimes from a coarse clock (ticks of a few ms), so a change in the same tick as the
// last one keeps the mtime: a reading is trusted only when it began well after the
// mtime it saw, since any later change then gets a later stamp.

const STAT_CONCURRENCY = 64;
const TRUST_AFTER_NS = 50_000_000n; // far more than a clock tick

interface Snapshot {
  mtimeNs: bigint;
  trusted: boolean;
  byKey: Map<string, EntryInfo>;
  sorted: string[];
}

export class EntryIndex {
  readonly #dir: string;
  #snapshot: Snapshot | undefined;
  /** a reading in flight, shared by lookups that would start the same one */
  #refreshing: { snapshot: Promise<Snapshot>; mtimeNs: bigint; generation: number } | undefined;
  /** counts this server's own changes: a reading begun before one cannot answer after it */
  #generation = 0;
  /** readings in start order: one that ends late never replaces a later one's snapshot */
  #started = 0;
  #installed = 0;

  constructor(dir: string) {
    this.#dir = dir;
  }

  /** Entries whose key starts with prefix, newest first. */
  async list(prefix: string, limit: number): Promise<EntryInfo[]> {
    const { sorted, byKey } = await this.#current();
    const found: EntryInfo[] = [];
    for (let i = lowerBound(sorted, prefix); i < sorted.length && (sorted[i] as string).startsWith(prefix); i++) found.push(byKey.get(sorted[i] as string) as EntryInfo);
    return found.sort(newestFirst).slice(0, limit);
  }

  /** This server's own change to key: the next look reads the folder again, and that key afresh. */
  changed(key: string): void {
    this.#generation++;
    if (!this.#snapshot) return;
    this.#snapshot.trusted = false;
    this.#snapshot.byKey.delete(key);
  }

  async #current(): Promise<Snapshot> {
    const info = await stat(this.#dir, { bigint: true }).catch(() => undefined);
    if (!info) return { mtimeNs: 0n, trusted: false, byKey: new Map(), sorted: [] };
    const known = this.#snapshot;
    if (known?.trusted && known.mtimeNs === info.mtimeNs) return known;
    // Lookups arriving while a reading is in flight share it, unless the folder or this
    // server changed it since that reading began (then it may miss what they must see).
    const inFlight = this.#refreshing;
    if (inFlight && inFlight.mtimeNs === info.mtimeNs && inFlight.generation === this.#generation) return inFlight.snapshot;
    const reading = { snapshot: this.#read(info.mtimeNs, known), mtimeNs: info.mtimeNs, generation: this.#generation };
    this.#refreshing = reading;
    reading.snapshot.finally(() => {
      if (this.#refreshing === reading) this.#refreshing = undefined;
    }).catch(() => {});
    return reading.snapshot;
  }

  async #read(mtimeNs: bigint, known: Snapshot | undefined): Promise<Snapshot> {
    const order = ++this.#started;
    const readAtNs = BigInt(Date.now()) * 1_000_000n;
    const names = (await readdir(this.#dir).catch(() => [] as string[])).filter((n) => n.endsWith('.json'));
    const keys = names.map((n) => n.slice(0, -'.json'.length));
    const byKey = new Map<string, EntryInfo>();
    const fresh = keys.filter((k) => {
      const old = known?.byKey.get(k);
      if (old) byKey.set(k, old);
      return !old;
    });
    const stats = await mapLimit(fresh, STAT_CONCURRENCY, (k) => stat(join(this.#dir, `${k}.json`)).catch(() => undefined));
    fresh.forEach((key, i) => {
      const s = stats[i];
      if (s) byKey.set(key, { key, createdAt: s.mtime, size: s.size });
    });
    const trusted = readAtNs - mtimeNs > TRUST_AFTER_NS;
    const snapshot: Snapshot = { mtimeNs, trusted, byKey, sorted: [...byKey.keys()].sort() };
    if (order > this.#installed) {
      this.#snapshot = snapshot;
      this.#installed = order;
    }
    return snapshot;
  }
}
