import type { ErrorBody } from '../shared/errors.ts';
import type { MatchKind } from '../shared/protocol.ts';

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
  /** save: parts the server already had */
  partsReused?: number;
  seconds: number;
  phases: { [phase: string]: number };
  error?: ErrorBody;
}

export function describe(record: Report): string {
  const size = `${record.files.toLocaleString('en-US')} files, ${mb(record.fileBytes)} in ${record.parts} part${record.parts === 1 ? '' : 's'}`;
  const time = `${record.seconds.toFixed(2)} s`;
  const rate = record.seconds > 0 && record.fileBytes > 0 ? `, ${mb(record.fileBytes / record.seconds)}/s` : '';
  switch (record.outcome) {
    case 'hit':
      return `larder restore: ${record.match} hit ${record.matchedKey} (${size}, ${mb(record.transferredBytes)} downloaded) in ${time}${rate}`;
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

function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/** GitHub Actions step outputs, when running there. */
export function githubOutputs(record: Report): string {
  if (record.command !== 'restore') return '';
  return `cache-hit=${record.match === 'exact'}\nmatched-key=${record.matchedKey ?? ''}\n`;
}
