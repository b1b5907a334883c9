import type { ClientReport, MatchKind, NamespaceStats, ProtocolStats, StatsResponse } from '../shared/wire/protocol.ts';
import { Metrics } from './metrics.ts';

type Counters = Omit<NamespaceStats, 'hitRate'>;

const zero = (): Counters => ({
  lookups: 0, exact: 0, prefix: 0, miss: 0, bytesIn: 0, bytesOut: 0, blobsUploaded: 0, blobsPresent: 0, entriesPublished: 0, clientRestores: 0, clientSaves: 0, timeSavedSeconds: 0,
});

const HISTORY_MINUTES = 24 * 60;
const MISSED_KEYS_KEPT = 10_000;
/** Namespaces counted one by one; any past these (lookups name namespaces freely) share one line. */
export const NAMESPACES_TRACKED = 10_000;
export const OTHER_NAMESPACES = '(other)';

/** Per-namespace counters since the process started; /v1/stats and /metrics read them. */
export class Stats {
  readonly metrics = new Metrics();
  readonly #since = new Date();
  readonly #byNamespace = new Map<string, Counters>();
  readonly #history: StatsResponse['history'] = [];
  readonly #missesByKey = new Map<string, number>();
  readonly #byProtocol = new Map<string, ProtocolStats>();
  readonly #maxNamespaces: number;

  constructor(maxNamespaces = NAMESPACES_TRACKED) {
    this.#maxNamespaces = maxNamespaces;
  }

  #of(ns: string): Counters {
    const name = this.#tracked(ns);
    let counters = this.#byNamespace.get(name);
    if (!counters) this.#byNamespace.set(name, (counters = zero()));
    return counters;
  }

  /** The namespace's own name while there is room, else the shared line (metrics labels too). */
  #tracked(ns: string): string {
    return this.#byNamespace.has(ns) || this.#byNamespace.size < this.#maxNamespaces ? ns : OTHER_NAMESPACES;
  }

  lookup(ns: string, match: MatchKind): void {
    const c = this.#of(ns);
    c.lookups++;
    if (match === 'none') c.miss++;
    else c[match]++;
    this.metrics.lookup(this.#tracked(ns), match);
    this.#minute()[match === 'none' ? 'miss' : match]++;
  }

  /** A lookup that missed, by the key asked for (for the dashboard's "top misses"). */
  missed(ns: string, key: string): void {
    const id = `${ns}/${key}`;
    if (this.#missesByKey.has(id) || this.#missesByKey.size < MISSED_KEYS_KEPT) this.#missesByKey.set(id, (this.#missesByKey.get(id) ?? 0) + 1);
  }

  #minute(): StatsResponse['history'][number] {
    const minute = new Date(Math.floor(Date.now() / 60_000) * 60_000).toISOString();
    let last = this.#history.at(-1);
    if (last?.minute !== minute) {
      last = { minute, exact: 0, prefix: 0, miss: 0 };
      this.#history.push(last);
      if (this.#history.length > HISTORY_MINUTES) this.#history.shift();
    }
    return last;
  }

  add(ns: string, field: 'bytesIn' | 'bytesOut' | 'blobsUploaded' | 'blobsPresent' | 'entriesPublished', amount = 1): void {
    this.#of(ns)[field] += amount;
    ns = this.#tracked(ns);
    const m = this.metrics;
    if (field === 'bytesIn' || field === 'bytesOut') m.bytes.inc({ namespace: ns, direction: field === 'bytesIn' ? 'in' : 'out' }, amount);
    else if (field === 'entriesPublished') m.entries.inc({ namespace: ns }, amount);
    else m.blobs.inc({ namespace: ns, outcome: field === 'blobsUploaded' ? 'uploaded' : 'already_present' }, amount);
  }

  /** A read (hit or miss) or a write through another tool's protocol, with the bytes it moved. */
  protocol(protocol: string, ns: string, result: 'hit' | 'miss' | 'write', bytes = 0): void {
    let p = this.#byProtocol.get(protocol);
    if (!p) this.#byProtocol.set(protocol, (p = { hits: 0, misses: 0, writes: 0, bytesIn: 0, bytesOut: 0 }));
    if (result === 'hit') p.hits++;
    else if (result === 'miss') p.misses++;
    else p.writes++;
    if (result === 'write') p.bytesIn += bytes;
    else p.bytesOut += bytes;
    this.metrics.protocolRequests.inc({ protocol, namespace: this.#tracked(ns), result });
    if (bytes > 0) this.metrics.protocolBytes.inc({ protocol, direction: result === 'write' ? 'in' : 'out' }, bytes);
  }

  /** Bytes served for a hit counted earlier (a GitHub Actions archive, downloaded after its lookup). */
  protocolServed(protocol: string, bytes: number): void {
    const p = this.#byProtocol.get(protocol);
    if (p) p.bytesOut += bytes;
    this.metrics.protocolBytes.inc({ protocol, direction: 'out' }, bytes);
  }

  corruptBlobRemoved(ns: string): void {
    this.metrics.corruptBlobs.inc({ namespace: this.#tracked(ns) });
  }

  clientReport(ns: string, report: ClientReport): void {
    const c = this.#of(ns);
    if (report.command === 'restore') c.clientRestores++;
    else c.clientSaves++;
    c.timeSavedSeconds += report.savedSeconds ?? 0;
    this.metrics.timeSaved.inc({ namespace: this.#tracked(ns) }, report.savedSeconds ?? 0);
  }

  snapshot(): StatsResponse {
    const namespaces: Record<string, NamespaceStats> = {};
    for (const [ns, c] of [...this.#byNamespace].sort(([a], [b]) => a.localeCompare(b))) {
      namespaces[ns] = { ...c, hitRate: c.lookups === 0 ? 0 : (c.exact + c.prefix) / c.lookups };
    }
    const topMisses = [...this.#missesByKey]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([id, misses]) => ({ namespace: id.slice(0, id.indexOf('/')), key: id.slice(id.indexOf('/') + 1), misses }));
    const protocols = Object.fromEntries([...this.#byProtocol].sort(([a], [b]) => a.localeCompare(b)).map(([name, p]) => [name, { ...p }]));
    return { since: this.#since.toISOString(), namespaces, history: [...this.#history], topMisses, protocols };
  }
}
