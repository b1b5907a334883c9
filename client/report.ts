import type { ErrorBody } from '../shared/errors.ts';
import type { MatchKind } from '../shared/wire/protocol.ts';
import { EMF_DIMENSIONS, EMF_METRICS } from '../shared/emf.ts';
import { count, mb } from '../shared/units.ts';

// What a save or restore did, as one record: printed as a line for people, as JSON
// with --json or --report, and as step outputs in GitHub Actions.

export type Outcome = 'hit' | 'miss' | 'saved' | 'exists' | 'skipped' | 'error';

export interface Report {
  command: 'save' | 'restore';
  outcome: Outcome;
  key: string;
  match?: MatchKind;
  matchedKey?: string;
  paths: string[];
  files: number;
  fileBytes: number;
  parts: number;
  /** compressed bytes moved over the wire */
  transferredBytes: number;
  /** restore: paths that already held the entry, untouched, and were left as they were */
  upToDate?: number;
  /** restore: parts already in place in a folder that held another entry, which was patched instead of rewritten */
  partsInPlace?: number;
  /** save: parts the server already had */
  partsReused?: number;
  /** save: of those, parts recognised by their tar bytes in the base entry, so never compressed */
  partsRecognised?: number;
  seconds: number;
  /** restore hits of an entry whose build time was recorded: that time minus this restore's */
  savedSeconds?: number;
  phases: { [phase: string]: number };
  error?: ErrorBody;
}

export function describe(record: Report): string {
  const size = `${count(record.files)} files, ${mb(record.fileBytes)} in ${record.parts} part${record.parts === 1 ? '' : 's'}`;
  const time = `${record.seconds.toFixed(2)} s`;
  const rate = record.seconds > 0 && record.fileBytes > 0 ? `, ${mb(record.fileBytes / record.seconds)}/s` : '';
  switch (record.outcome) {
    case 'hit':
      if (record.upToDate && record.upToDate === record.paths.length) return `larder restore: ${record.match} hit ${record.matchedKey}: already up to date (${count(record.files)} files unchanged, nothing downloaded) in ${time}`;
      return `larder restore: ${record.match} hit ${record.matchedKey} (${size}, ${mb(record.transferredBytes)} downloaded${record.partsInPlace ? `; ${record.partsInPlace} part(s) already in place` : ''}${record.upToDate ? `; ${record.upToDate} path(s) already up to date` : ''}) in ${time}${rate}`;
    case 'miss':
      return `larder restore: miss for ${record.key} in ${time}`;
    case 'saved':
      return `larder save: saved ${record.key} (${size}; ${mb(record.transferredBytes)} uploaded, ${record.partsReused ?? 0} part(s) already stored) in ${time}${rate}`;
    case 'exists':
      return `larder save: ${record.key} is already saved; nothing uploaded (${time})`;
    case 'skipped':
      return `larder save: nothing to save for ${record.key}: ${record.error?.message ?? 'no path exists'}`;
    case 'error':
      return `larder ${record.command}: ${record.error?.code === 'LARDER_INTEGRITY' ? 'integrity error' : 'warning'}: ${record.error?.code}: ${record.error?.message}`;
  }
}

export function secondsSince(mark: number): number {
  return (performance.now() - mark) / 1000;
}

/** One CloudWatch Embedded Metric Format line: CloudWatch Logs turns it into metrics, no SDK call. */
export function emfLine(record: Report, namespace: string, cacheNamespace: string): string {
  const m = EMF_METRICS;
  const hit = record.outcome === 'hit' ? 1 : 0;
  const metrics: Array<[string, string, number]> = [
    [m.seconds, 'Seconds', record.seconds],
    [m.bytes, 'Bytes', record.fileBytes],
    [m.transferredBytes, 'Bytes', record.transferredBytes],
    ...(record.command === 'restore' ? ([[m.hit, 'Count', hit], [m.miss, 'Count', record.outcome === 'miss' ? 1 : 0], [m.exactHit, 'Count', record.match === 'exact' ? 1 : 0]] as Array<[string, string, number]>) : []),
    [m.error, 'Count', record.outcome === 'error' ? 1 : 0],
    ...(record.savedSeconds !== undefined ? ([[m.savedSeconds, 'Seconds', record.savedSeconds]] as Array<[string, string, number]>) : []),
  ];
  const { command, cacheNamespace: cacheNs } = EMF_DIMENSIONS;
  return JSON.stringify({
    _aws: {
      Timestamp: Date.now(),
      CloudWatchMetrics: [{ Namespace: namespace, Dimensions: [[command, cacheNs], [command]], Metrics: metrics.map(([Name, Unit]) => ({ Name, Unit })) }],
    },
    [command]: record.command,
    [cacheNs]: cacheNamespace,
    Outcome: record.outcome,
    Key: record.key,
    ...Object.fromEntries(metrics.map(([name, , value]) => [name, value])),
  });
}

/** A small Markdown table for $GITHUB_STEP_SUMMARY. */
export function stepSummary(record: Report): string {
  const outcome = record.outcome === 'hit' ? `${record.match} hit` : record.outcome;
  return [
    `| larder ${record.command} | key | files | size | seconds |`,
    '|---|---|---:|---:|---:|',
    `| ${outcome}${record.error ? ` (${record.error.code})` : ''} | \`${record.matchedKey ?? record.key}\` | ${count(record.files)} | ${mb(record.fileBytes)} | ${record.seconds.toFixed(2)} |`,
    '',
  ].join('\n');
}

/** GitHub Actions step outputs, when running there. */
export function githubOutputs(record: Report): string {
  if (record.command !== 'restore') return '';
  return `cache-hit=${record.match === 'exact'}\nmatched-key=${record.matchedKey ?? ''}\n`;
}
