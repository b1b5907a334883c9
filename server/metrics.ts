import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MatchKind } from '../shared/protocol.ts';

// Prometheus metrics (GET /metrics). Stats feeds these from the same calls that feed
// /v1/stats, so the two always agree.

export class Metrics {
  readonly registry = new Registry();

  readonly lookups = new Counter({ name: 'larder_lookups_total', help: 'Lookups by namespace and result (exact, prefix, miss).', labelNames: ['namespace', 'result'], registers: [this.registry] });
  readonly bytes = new Counter({ name: 'larder_bytes_total', help: 'Blob bytes received (in) and served (out).', labelNames: ['namespace', 'direction'], registers: [this.registry] });
  readonly blobs = new Counter({ name: 'larder_blobs_total', help: 'Blobs uploaded, and blobs a client did not need to upload because they were stored already (dedup).', labelNames: ['namespace', 'outcome'], registers: [this.registry] });
  readonly entries = new Counter({ name: 'larder_entries_published_total', help: 'Entries published.', labelNames: ['namespace'], registers: [this.registry] });
  readonly timeSaved = new Counter({ name: 'larder_time_saved_seconds_total', help: 'Build time that restores saved, as clients reported it.', labelNames: ['namespace'], registers: [this.registry] });
  readonly corruptBlobs = new Counter({ name: 'larder_corrupt_blobs_removed_total', help: 'Blobs a client found corrupt, that the server confirmed by hashing them and removed.', labelNames: ['namespace'], registers: [this.registry] });
  readonly storeErrors = new Counter({ name: 'larder_store_errors_total', help: 'Store failures answered with 5xx, by error code.', labelNames: ['code'], registers: [this.registry] });
  readonly requestSeconds = new Histogram({
    name: 'larder_http_request_duration_seconds',
    help: 'Request latency by route, method and status.',
    labelNames: ['route', 'method', 'status'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
    registers: [this.registry],
  });

  constructor() {
    new Gauge({
      name: 'larder_process_resident_memory_bytes',
      help: 'Resident memory of the server process.',
      registers: [this.registry],
      collect() {
        this.set(process.memoryUsage().rss);
      },
    });
  }

  lookup(ns: string, match: MatchKind): void {
    this.lookups.inc({ namespace: ns, result: match === 'none' ? 'miss' : match });
  }
}
