import type { EntryInfo } from './store.ts';
import { newestFirst } from './store.ts';
import { insertSorted, lowerBound } from './sorted-keys.ts';

// The S3 store's entries of one namespace, in memory, so a restore-key lookup costs the
// same at 10 entries and at 10,000: one listing request, not one per thousand entries.
// Every publish also writes an empty journal object named by its time, size and key
// (journal/<ms>-<size>-<key>); a lookup lists only the journal written since the last
// one it saw, less a minute for clocks and slow writes, and adds what it finds. A full
// listing every 15 minutes corrects anything a journal write missed. Deletions need no
// journal: a lookup that finds an entry gone drops it (removed), and so does the full
// listing. The collector removes journal objects after an hour (S3Store.sweep).

export interface ListedObject {
  Key?: string;
  LastModified?: Date;
  Size?: number;
}

export type Lister = (prefix: string, startAfter?: string) => AsyncIterable<ListedObject>;

const FULL_EVERY_MS = 15 * 60_000;
export const DEFAULT_SKEW_MS = 60_000;
export const JOURNAL_KEEP_MS = 60 * 60_000;
const JOURNAL_NAME = /^(\d{13})-(\d+)-(.+)$/;

export function journalName(at: number, size: number, key: string): string {
  return `${String(at).padStart(13, '0')}-${size}-${key}`;
}

export function journalTime(name: string): number | undefined {
  const match = JOURNAL_NAME.exec(name);
  return match ? Number(match[1]) : undefined;
}

export class S3EntryIndex {
  readonly #list: Lister;
  readonly #entries: string;
  readonly #journal: string;
  readonly #now: () => number;
  /** how far back each journal read starts, for clocks and slow writes */
  readonly #skewMs: number;
  readonly #byKey = new Map<string, EntryInfo>();
  /** keys in order, for the binary search a prefix needs */
  readonly #sorted: string[] = [];
  /** keys this index saw go, and when: an older journal record of one does not bring it back */
  readonly #gone = new Map<string, number>();
  #fullAt: number | undefined;
  #cursor = 0;
  #full: Promise<void> | undefined;

  constructor(list: Lister, entriesPrefix: string, journalPrefix: string, { now = Date.now, skewMs = DEFAULT_SKEW_MS }: { now?: () => number; skewMs?: number } = {}) {
    this.#skewMs = skewMs;
    this.#list = list;
    this.#entries = entriesPrefix;
    this.#journal = journalPrefix;
    this.#now = now;
  }

  /** Entries whose key starts with prefix, newest first. */
  async list(prefix: string, limit: number): Promise<EntryInfo[]> {
    await this.#refresh();
    const found: EntryInfo[] = [];
    for (let i = lowerBound(this.#sorted, prefix); i < this.#sorted.length && (this.#sorted[i] as string).startsWith(prefix); i++) {
      found.push(this.#byKey.get(this.#sorted[i] as string) as EntryInfo);
    }
    return found.sort(newestFirst).slice(0, limit);
  }

  /** An entry this server published. */
  added(info: EntryInfo): void {
    if (!this.#byKey.has(info.key)) insertSorted(this.#sorted, info.key);
    this.#byKey.set(info.key, info);
    this.#gone.delete(info.key);
  }

  /** An entry this server deleted, or found gone. */
  removed(key: string): void {
    this.#gone.set(key, this.#now());
    if (!this.#byKey.delete(key)) return;
    const at = lowerBound(this.#sorted, key);
    if (this.#sorted[at] === key) this.#sorted.splice(at, 1);
  }

  async #refresh(): Promise<void> {
    if (this.#fullAt === undefined) {
      await this.#fullListing();
    } else if (this.#now() - this.#fullAt > FULL_EVERY_MS) {
      // In the background (one at a time): lookups go on answering from memory and the journal meanwhile.
      this.#fullListing().catch(() => {});
    }
    await this.#readJournal();
  }

  #fullListing(): Promise<void> {
    this.#full ??= (async () => {
      const startedAt = this.#now();
      const listed = new Map<string, EntryInfo>();
      for await (const object of this.#list(this.#entries)) {
        if (!object.Key?.endsWith('.json')) continue;
        const key = object.Key.slice(this.#entries.length, -'.json'.length);
        listed.set(key, { key, createdAt: object.LastModified ?? new Date(0), size: object.Size ?? 0 });
      }
      // What arrived while the listing ran may be missing from it: keep the recent ones.
      for (const [key, info] of this.#byKey) if (!listed.has(key) && info.createdAt.getTime() >= startedAt - this.#skewMs) listed.set(key, info);
      this.#byKey.clear();
      for (const [key, info] of listed) this.#byKey.set(key, info);
      this.#sorted.splice(0, this.#sorted.length, ...[...listed.keys()].sort());
      this.#fullAt = startedAt;
      this.#cursor = Math.max(this.#cursor, startedAt);
      for (const [key, at] of this.#gone) if (at < startedAt - JOURNAL_KEEP_MS) this.#gone.delete(key);
    })().finally(() => (this.#full = undefined));
    return this.#full;
  }

  async #readJournal(): Promise<void> {
    const from = this.#journal + journalName(Math.max(0, this.#cursor - this.#skewMs), 0, '').slice(0, 13);
    let newest = this.#cursor;
    for await (const object of this.#list(this.#journal, from)) {
      const match = JOURNAL_NAME.exec(object.Key?.slice(this.#journal.length) ?? '');
      if (!match) continue;
      const at = Number(match[1]);
      const key = match[3] as string;
      newest = Math.max(newest, at);
      if (this.#byKey.has(key) || (this.#gone.get(key) ?? -1) >= at) continue;
      this.added({ key, createdAt: new Date(at), size: Number(match[2]) });
    }
    // A writer whose clock runs ahead must not move the window past everyone else's writes.
    this.#cursor = Math.min(newest, this.#now());
  }
}
