// The names the client's CloudWatch Embedded Metric Format lines use (client/report.ts),
// in one place, so what reads them (the alarm and dashboard of deploy/, docs/metrics.md)
// cannot drift from what the client writes.

export const EMF_NAMESPACE = 'Larder';

export const EMF_DIMENSIONS = { command: 'Command', cacheNamespace: 'CacheNamespace' } as const;

export const EMF_METRICS = {
  seconds: 'Seconds',
  bytes: 'Bytes',
  transferredBytes: 'TransferredBytes',
  hit: 'Hit',
  miss: 'Miss',
  exactHit: 'ExactHit',
  error: 'Error',
  savedSeconds: 'SavedSeconds',
} as const;
