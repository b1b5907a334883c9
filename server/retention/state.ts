import type { EvictionReason } from './policy.ts';

// The retention bookkeeping objects, kept in the store itself (v1/meta/retention/), so
// every server on one bucket shares them and none keeps state of its own:
//   state.json   last access of every entry: the collector's alone, read and written once per run
//   status.json  blobs doomed to go and when, the last run, usage: small, every server reads it
//   lease.json   who collects now (lease.ts)
//   access/      what each server saw restored and published since its last flush (access-log.ts)

export const STATE = 'retention/state.json';
export const STATUS = 'retention/status.json';
export const LEASE = 'retention/lease.json';
export const ACCESS_PREFIX = 'retention/access/';

export type Clock = () => number;

export interface AccessState {
  /** namespace → key → last restore or publish (ms) */
  access: Record<string, Record<string, number>>;
}

export interface NamespaceUsage {
  bytes: number;
  entries: number;
}

export interface RunSummary {
  at: string;
  /** the server that ran it */
  by: string;
  outcome: 'ok' | 'failed' | 'skipped';
  /** why it failed or was skipped */
  reason?: string;
  seconds: number;
  evicted: Record<EvictionReason, number>;
  blobsCollected: number;
  bytesReclaimed: number;
}

export interface RetentionStatus {
  /** namespace → digest → when it was found unreferenced (ms): deleted a grace period later */
  doomed: Record<string, Record<string, number>>;
  /** bytes of every stored blob and manifest, and the live share of it, at the last run */
  usage?: { storedBytes: number; liveBytes: number; entries: number; byNamespace: Record<string, NamespaceUsage> };
  lastRun?: RunSummary;
  /** since the store began */
  totals: { evicted: number; blobsCollected: number; bytesReclaimed: number };
}

/** Blobs waiting out their grace period. */
export function doomedCount(status: RetentionStatus): number {
  return Object.values(status.doomed).reduce((n, d) => n + Object.keys(d).length, 0);
}

export function emptyStatus(): RetentionStatus {
  return { doomed: {}, totals: { evicted: 0, blobsCollected: 0, bytesReclaimed: 0 } };
}

/** A bookkeeping object's JSON, or the fallback when it is absent or unreadable (a torn write is rebuilt by the next run). */
export function parseOr<T>(body: Buffer | undefined, fallback: T): T {
  if (!body) return fallback;
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    return value && typeof value === 'object' ? (value as T) : fallback;
  } catch {
    return fallback;
  }
}
