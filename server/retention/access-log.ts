import type { Store } from '../storage/store.ts';
import { ACCESS_PREFIX, type Clock } from './state.ts';

// Last access without write amplification: a hit writes nothing to the store. Each
// server remembers, in memory, the last restore and publish of each entry it served,
// and writes them as one small object every few minutes (and when it stops); the
// collector merges these into state.json and removes them. On S3 that is one PUT per
// server per flush, however many hits there were.

/** Past this many distinct entries in memory, a flush starts early: memory stays bounded. */
const MAX_PENDING = 50_000;

export type AccessEvent = [ns: string, key: string, at: number];

export class AccessLog {
  readonly #server: string;
  readonly #now: Clock;
  #pending = new Map<string, AccessEvent>();
  #sequence = 0;
  #flushing: Promise<void> | undefined;
  /** called when the size bound is reached: the owner flushes */
  onFull: (() => void) | undefined;

  constructor(server: string, now: Clock) {
    this.#server = server;
    this.#now = now;
  }

  record(ns: string, key: string): void {
    this.#pending.set(`${ns}\n${key}`, [ns, key, this.#now()]);
    if (this.#pending.size >= MAX_PENDING) this.onFull?.();
  }

  get pending(): number {
    return this.#pending.size;
  }

  /** Writes what was recorded as one object; on failure keeps it for the next flush. */
  async flush(store: Store): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#pending.size === 0) return;
    const events = this.#pending;
    this.#pending = new Map();
    const name = `${ACCESS_PREFIX}${String(this.#now()).padStart(13, '0')}-${this.#server}-${this.#sequence++}.json`;
    this.#flushing = store
      .putMeta(name, Buffer.from(JSON.stringify({ events: [...events.values()] })))
      .then(() => undefined)
      .catch((err: unknown) => {
        for (const [id, event] of events) if (!this.#pending.has(id)) this.#pending.set(id, event);
        throw err;
      })
      .finally(() => (this.#flushing = undefined));
    await this.#flushing;
  }
}

/** The events of one flushed log; anything malformed in it is skipped. */
export function readAccessEvents(body: Buffer): AccessEvent[] {
  try {
    const { events } = JSON.parse(body.toString('utf8')) as { events?: unknown };
    if (!Array.isArray(events)) return [];
    return events.filter((e): e is AccessEvent => Array.isArray(e) && typeof e[0] === 'string' && typeof e[1] === 'string' && Number.isFinite(e[2]));
  } catch {
    return [];
  }
}
