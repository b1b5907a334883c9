import type { MatchKind, NamespaceStats, StatsResponse } from '../shared/protocol.ts';
import { Metrics } from './metrics.ts';

type Counters = Omit<NamespaceStats, 'hitRate'>;

const zero = (): Counters => ({
  lookups: 0, exact: 0, prefix: 0, miss: 0, bytesIn: 0, bytesOut: 0, blobsUploaded: 0, blobsPresent: 0, entriesPublished: 0,
});

/** Per-namespace counters since the process started; /v1/stats and /metrics read them. */
export class Stats {
  readonly metrics = new Metrics();
  readonly #since = new Date();
  readonly #byNamespace = new Map<string, Counters>();

  #of(ns: string): Counters {
    let counters = this.#byNamespace.get(ns);
    if (!counters) this.#byNamespace.set(ns, (counters = zero()));
    return counters;
  }

  lookup(ns: string, match: MatchKind): void {
    const c = this.#of(ns);
    c.lookups++;
    if (match === 'none') c.miss++;
    else c[match]++;
    this.metrics.lookup(ns, match);
  }

  add(ns: string, field: 'bytesIn' | 'bytesOut' | 'blobsUploaded' | 'blobsPresent' | 'entriesPublished', amount = 1): void {
    this.#of(ns)[field] += amount;
    const m = this.metrics;
    if (field === 'bytesIn' || field === 'bytesOut') m.bytes.inc({ namespace: ns, direction: field === 'bytesIn' ? 'in' : 'out' }, amount);
    else if (field === 'entriesPublished') m.entries.inc({ namespace: ns }, amount);
    else m.blobs.inc({ namespace: ns, outcome: field === 'blobsUploaded' ? 'uploaded' : 'already_present' }, amount);
  }

  snapshot(): StatsResponse {
    const namespaces: Record<string, NamespaceStats> = {};
    for (const [ns, c] of [...this.#byNamespace].sort(([a], [b]) => a.localeCompare(b))) {
      namespaces[ns] = { ...c, hitRate: c.lookups === 0 ? 0 : (c.exact + c.prefix) / c.lookups };
    }
    return { since: this.#since.toISOString(), namespaces };
  }
}
