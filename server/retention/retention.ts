import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { mb } from '../../shared/units.ts';
import type { Store } from '../storage/store.ts';
import { AccessLog } from './access-log.ts';
import { Collector } from './collector.ts';
import type { Caps } from './policy.ts';
import { type Clock, emptyStatus, parseOr, type RetentionStatus, type RunSummary, STATUS } from './state.ts';

// What the rest of the server sees of retention: it records accesses, tells a save which
// stored blobs are doomed (so it uploads them again rather than count on them), and runs
// the collector: every collectEvery, soon after uploads pass a cap, and when the
// earliest doomed blob's grace ends.

export interface RetentionOptions {
  caps: Caps;
  /** a blob found unreferenced is deleted this long afterwards (default 1 hour) */
  graceMs: number;
  /** how often the collector runs (default 1 hour) */
  collectEveryMs: number;
  /** how often this server writes its access log (default 5 minutes) */
  flushEveryMs: number;
  /** how old this server's view of the doomed blobs may be (default 1 minute) */
  statusMaxAgeMs: number;
  now: Clock;
}

export const DEFAULT_RETENTION: RetentionOptions = {
  caps: {},
  graceMs: 3_600_000,
  collectEveryMs: 3_600_000,
  flushEveryMs: 300_000,
  statusMaxAgeMs: 60_000,
  now: Date.now,
};

/** A cap passed by uploads starts a run at most this often. */
const MIN_RUN_GAP_MS = 60_000;

export interface RetentionView {
  caps: Caps;
  graceMs: number;
  status: RetentionStatus;
}

export class Retention {
  readonly options: RetentionOptions;
  readonly server: string;
  readonly accessLog: AccessLog;
  readonly #store: Store;
  readonly #collector: Collector;
  #status: RetentionStatus = emptyStatus();
  #statusRead = -Infinity;
  #statusReading: Promise<void> | undefined;
  /** bytes uploaded since the last run, by namespace: passing a cap starts a run */
  #uploaded = new Map<string, number>();
  #running: Promise<RunSummary> | undefined;
  #lastRunStarted = -Infinity;
  #timers: NodeJS.Timeout[] = [];
  #followUp: NodeJS.Timeout | undefined;
  #log: { info: (msg: string) => void; error: (msg: string) => void } | undefined;

  constructor(store: Store, options: Partial<RetentionOptions> = {}) {
    this.options = { ...DEFAULT_RETENTION, ...options };
    this.#store = store;
    this.server = serverName();
    this.accessLog = new AccessLog(this.server, this.options.now);
    this.accessLog.onFull = () => void this.accessLog.flush(store).catch(() => {});
    this.#collector = new Collector(store, { caps: this.options.caps, graceMs: this.options.graceMs, holder: this.server, now: this.options.now });
  }

  /** A restore or publish of key: the entry stays as long as it is used. */
  accessed(ns: string, key: string): void {
    this.accessLog.record(ns, key);
  }

  /** Of these digests, those doomed to go: a save must upload them again, not count on them. */
  async doomedAmong(ns: string, digests: readonly string[]): Promise<Set<string>> {
    await this.#freshStatus();
    const doomed = this.#status.doomed[ns];
    return new Set(doomed ? digests.filter((d) => doomed[d] !== undefined) : []);
  }

  /** A doomed blob a save has just written again: no longer doomed, as the collector will see. */
  rescued(ns: string, digest: string): void {
    delete this.#status.doomed[ns]?.[digest];
  }

  uploaded(ns: string, bytes: number): void {
    this.#uploaded.set(ns, (this.#uploaded.get(ns) ?? 0) + bytes);
    if (this.#timers.length > 0 && this.#overCap()) this.#runSoon();
  }

  view(): RetentionView {
    return { caps: this.options.caps, graceMs: this.options.graceMs, status: this.#status };
  }

  /** Writes this server's accesses, then runs the collector (or waits for the run under way). */
  async collectNow(): Promise<RunSummary> {
    this.#running ??= (async () => {
      this.#lastRunStarted = Date.now();
      const uploaded = new Map(this.#uploaded);
      await this.accessLog.flush(this.#store).catch(() => {});
      const { summary, status } = await this.#collector.run();
      if (status) {
        this.#status = status;
        this.#statusRead = Date.now();
        for (const [ns, bytes] of uploaded) this.#uploaded.set(ns, (this.#uploaded.get(ns) ?? 0) - bytes);
      } else if (summary.outcome === 'failed') {
        this.#status.lastRun = summary; // this server's metrics say so, until a run succeeds
      }
      this.#scheduleFollowUp();
      return summary;
    })().finally(() => (this.#running = undefined));
    return this.#running;
  }

  /** Timers for the collector and the access log; logs each run in one line. */
  start(log: { info: (msg: string) => void; error: (msg: string) => void }): void {
    this.#log = log;
    const run = (): void => void this.#logged();
    this.#timers.push(setTimeout(run, 5_000), setInterval(run, this.options.collectEveryMs));
    this.#timers.push(setInterval(() => void this.accessLog.flush(this.#store).catch((err: unknown) => log.error(`retention: access log not written: ${(err as Error).message}`)), this.options.flushEveryMs));
    for (const timer of this.#timers) timer.unref();
  }

  /** Stops the timers and writes what this server saw, so no access is lost. */
  async stop(): Promise<void> {
    for (const timer of this.#timers) clearTimeout(timer);
    this.#timers = [];
    if (this.#followUp) clearTimeout(this.#followUp);
    await this.#running?.catch(() => {});
    await this.accessLog.flush(this.#store).catch(() => {});
  }

  async #logged(): Promise<void> {
    const summary = await this.collectNow().catch((err: unknown): RunSummary | undefined => {
      this.#log?.error(`retention: collection failed: ${(err as Error).message}`);
      return undefined;
    });
    if (!summary) return;
    if (summary.outcome === 'failed') this.#log?.error(`retention: collection failed: ${summary.reason}`);
    else if (summary.outcome === 'ok') this.#log?.info(describeRun(summary, this.#status, this.options.caps));
  }

  #overCap(): boolean {
    const { maxBytes, quotas = {} } = this.options.caps;
    const usage = this.#status.usage;
    if (!usage) return false;
    const uploaded = [...this.#uploaded.values()].reduce((a, b) => a + b, 0);
    if (maxBytes !== undefined && usage.storedBytes + uploaded > maxBytes) return true;
    return Object.entries(quotas).some(([ns, quota]) => (usage.byNamespace[ns]?.bytes ?? 0) + (this.#uploaded.get(ns) ?? 0) > quota);
  }

  #runSoon(): void {
    if (this.#running || this.#followUp) return;
    const wait = Math.max(0, this.#lastRunStarted + MIN_RUN_GAP_MS - Date.now());
    this.#followUp = setTimeout(() => {
      this.#followUp = undefined;
      void this.#logged();
    }, wait);
    this.#followUp.unref();
  }

  /** When a doomed blob's grace ends before the next regular run, run then. */
  #scheduleFollowUp(): void {
    if (this.#timers.length === 0 || this.#followUp) return;
    const marks = Object.values(this.#status.doomed).flatMap((d) => Object.values(d));
    if (marks.length === 0) return;
    const due = Math.min(...marks) + this.options.graceMs - this.options.now();
    if (due >= this.options.collectEveryMs) return;
    this.#followUp = setTimeout(() => {
      this.#followUp = undefined;
      void this.#logged();
    }, Math.max(MIN_RUN_GAP_MS, due + 1_000));
    this.#followUp.unref();
  }

  async #freshStatus(): Promise<void> {
    if (Date.now() - this.#statusRead < this.options.statusMaxAgeMs) return;
    this.#statusReading ??= (async () => {
      const read = Date.now();
      const stored = await this.#store.getMeta(STATUS);
      this.#status = { ...emptyStatus(), ...parseOr<Partial<RetentionStatus>>(stored?.body, {}) };
      this.#statusRead = read;
    })().finally(() => (this.#statusReading = undefined));
    await this.#statusReading;
  }
}

export function describeRun(summary: RunSummary, status: RetentionStatus, caps: Caps): string {
  const evicted = Object.entries(summary.evicted).filter(([, n]) => n > 0).map(([why, n]) => `${n} ${why}`);
  const usage = status.usage;
  const cap = caps.maxBytes === undefined ? '' : ` of ${mb(caps.maxBytes)}`;
  return [
    `retention: ${evicted.length > 0 ? `evicted ${evicted.join(', ')}` : 'evicted nothing'}`,
    `collected ${summary.blobsCollected} blob(s), ${mb(summary.bytesReclaimed)}`,
    usage ? `store ${mb(usage.storedBytes)}${cap}, ${usage.entries} entries` : '',
    `in ${summary.seconds.toFixed(1)} s`,
  ].filter(Boolean).join('; ');
}

/** host-pid-random, in the characters a bookkeeping object's name allows. */
function serverName(): string {
  const host = hostname().toLowerCase().replace(/[^a-z0-9.-]/g, '-').slice(0, 40) || 'server';
  return `${host}-${process.pid}-${randomBytes(3).toString('hex')}`;
}
