import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { MatchKind } from '../shared/wire/protocol.ts';
import type { RetentionView } from './retention/retention.ts';
import { doomedCount } from './retention/state.ts';

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
  readonly protocolRequests = new Counter({ name: 'larder_protocol_requests_total', help: 'Reads (hit, miss) and writes through the other tools\' protocols, by protocol and namespace.', labelNames: ['protocol', 'namespace', 'result'], registers: [this.registry] });
  readonly protocolBytes = new Counter({ name: 'larder_protocol_bytes_total', help: 'Bytes received (in) and served (out) through the other tools\' protocols.', labelNames: ['protocol', 'direction'], registers: [this.registry] });
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

  /**
   * Store size, caps and collections, from the status the last collection wrote to the
   * store: every server on one bucket shows the same numbers, whichever one collected.
   */
  watchRetention(view: () => RetentionView): void {
    const registers = [this.registry];
    const gauge = (name: string, help: string, read: (v: RetentionView, set: (value: number, labels?: Record<string, string>) => void) => void, labelNames: string[] = []): void => {
      new Gauge({
        name,
        help,
        labelNames,
        registers,
        collect() {
          this.reset();
          read(view(), (value, labels) => (labels ? this.set(labels, value) : this.set(value)));
        },
      });
    };
    gauge('larder_store_bytes', 'Bytes the store holds (every blob and manifest), at the last collection.', (v, set) => v.status.usage && set(v.status.usage.storedBytes));
    gauge('larder_store_live_bytes', 'Bytes of live entries (their manifests and the blobs they use), at the last collection.', (v, set) => v.status.usage && set(v.status.usage.liveBytes));
    gauge('larder_store_entries', 'Entries stored, at the last collection.', (v, set) => v.status.usage && set(v.status.usage.entries));
    gauge('larder_store_max_bytes', 'The cap on the whole store (--max-size).', (v, set) => v.caps.maxBytes !== undefined && set(v.caps.maxBytes));
    gauge('larder_store_max_idle_seconds', 'Entries not restored for this long are evicted (--max-idle).', (v, set) => v.caps.maxIdleMs !== undefined && set(v.caps.maxIdleMs / 1000));
    gauge('larder_namespace_bytes', 'Bytes of live entries by namespace, at the last collection.', (v, set) => {
      for (const [namespace, u] of Object.entries(v.status.usage?.byNamespace ?? {})) set(u.bytes, { namespace });
    }, ['namespace']);
    gauge('larder_namespace_entries', 'Entries by namespace, at the last collection.', (v, set) => {
      for (const [namespace, u] of Object.entries(v.status.usage?.byNamespace ?? {})) set(u.entries, { namespace });
    }, ['namespace']);
    gauge('larder_namespace_max_bytes', 'Per-namespace quotas (the tokens file).', (v, set) => {
      for (const [namespace, quota] of Object.entries(v.caps.quotas ?? {})) set(quota, { namespace });
    }, ['namespace']);
    gauge('larder_retention_evicted_entries', 'Entries evicted since the store began.', (v, set) => set(v.status.totals.evicted));
    gauge('larder_retention_collected_blobs', 'Unreferenced blobs deleted since the store began.', (v, set) => set(v.status.totals.blobsCollected));
    gauge('larder_retention_reclaimed_bytes', 'Bytes those deletions freed since the store began.', (v, set) => set(v.status.totals.bytesReclaimed));
    gauge('larder_retention_doomed_blobs', 'Unreferenced blobs waiting out their grace period.', (v, set) => set(doomedCount(v.status)));
    gauge('larder_retention_last_run_timestamp_seconds', 'When the last collection ran.', (v, set) => v.status.lastRun && set(Date.parse(v.status.lastRun.at) / 1000));
    gauge('larder_retention_last_run_success', 'Whether the last collection succeeded (1) or failed (0).', (v, set) => v.status.lastRun && set(v.status.lastRun.outcome === 'ok' ? 1 : 0));
    gauge('larder_retention_last_run_duration_seconds', 'How long the last collection took.', (v, set) => v.status.lastRun && set(v.status.lastRun.seconds));
  }

  lookup(ns: string, match: MatchKind): void {
    this.lookups.inc({ namespace: ns, result: match === 'none' ? 'miss' : match });
  }
}
