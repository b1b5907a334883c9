import { DIGEST_PATTERN } from './digest.ts';
import type { Manifest } from './manifest.ts';
import { KEY_PATTERN, KEY_PREFIX_PATTERN } from './names.ts';

// Request and response bodies of the v1 wire protocol, with the JSON schemas the
// server validates them against.

export const PROTOCOL_PREFIX = '/v1';
export const MAX_RESTORE_KEYS = 32;
export const MAX_MISSING_DIGESTS = 10_000;
export const MAX_LIST_LIMIT = 1000;

export type MatchKind = 'exact' | 'prefix' | 'none';

export interface LookupRequest {
  key: string;
  restoreKeys?: string[];
  /** a save looking for the entry it builds on: answered the same, not counted as a hit or miss */
  probe?: boolean;
  /** take entries an untrusted token published too (they are passed over otherwise) */
  allowUntrusted?: boolean;
}

export interface LookupResponse {
  match: MatchKind;
  key?: string;
  entry?: Manifest;
  /** entries that matched but were passed over, because an untrusted token published them */
  passedOver?: string[];
}

export interface MissingRequest {
  digests: string[];
  /** each digest's size: a blob stored with another size (torn) counts as missing */
  sizes?: number[];
}

/** The server's own check of a blob a client found corrupt; a corrupt one is removed. */
export interface VerifyResponse {
  digest: string;
  intact: boolean;
}

export interface MissingResponse {
  missing: string[];
}

export interface EntrySummary {
  key: string;
  createdAt: string;
  size: number;
}

export interface EntryListResponse {
  entries: EntrySummary[];
}

/** What a client tells the server after a save or restore, for /v1/stats. */
export interface ClientReport {
  command: 'save' | 'restore';
  outcome: 'hit' | 'miss' | 'saved' | 'exists' | 'skipped' | 'error';
  seconds: number;
  /** restore hits: the recorded build time minus this restore's time */
  savedSeconds?: number;
  /** restore hits: the entry restored; savedSeconds counts only up to that entry's recorded build time */
  key?: string;
}

export const clientReportSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['command', 'outcome', 'seconds'],
  properties: {
    command: { enum: ['save', 'restore'] },
    outcome: { enum: ['hit', 'miss', 'saved', 'exists', 'skipped', 'error'] },
    seconds: { type: 'number', minimum: 0, maximum: 86_400 },
    savedSeconds: { type: 'number', minimum: 0, maximum: 31_536_000 },
    key: { type: 'string', pattern: KEY_PATTERN.source },
  },
} as const;

export interface NamespaceStats {
  lookups: number;
  exact: number;
  prefix: number;
  miss: number;
  hitRate: number;
  bytesIn: number;
  bytesOut: number;
  blobsUploaded: number;
  blobsPresent: number;
  entriesPublished: number;
  /** reported by clients: restores, saves, and the build time restores saved */
  clientRestores: number;
  clientSaves: number;
  timeSavedSeconds: number;
}

export interface StatsResponse {
  since: string;
  namespaces: Record<string, NamespaceStats>;
  /** lookups per minute, all namespaces, oldest first (the last 24 h) */
  history: Array<{ minute: string; exact: number; prefix: number; miss: number }>;
  /** the keys that missed most */
  topMisses: Array<{ namespace: string; key: string; misses: number }>;
  /** the store against its caps, and the collector, as of its last run (any server's) */
  retention?: RetentionStats;
  /** other tools' caches served through larder's protocol adapters (server/protocols/), by protocol */
  protocols: Record<string, ProtocolStats>;
}

/** One protocol adapter's outcomes: reads that hit or missed, writes, and bytes. */
export interface ProtocolStats {
  hits: number;
  misses: number;
  writes: number;
  bytesIn: number;
  bytesOut: number;
}

export interface RetentionStats {
  maxBytes?: number;
  maxIdleSeconds?: number;
  quotas?: Record<string, number>;
  storedBytes?: number;
  liveBytes?: number;
  entries?: number;
  byNamespace?: Record<string, { bytes: number; entries: number }>;
  doomedBlobs: number;
  totals: { evicted: number; blobsCollected: number; bytesReclaimed: number };
  lastRun?: { at: string; by: string; outcome: string; reason?: string; seconds: number; evicted: Record<string, number>; blobsCollected: number; bytesReclaimed: number };
}

export const lookupRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['key'],
  properties: {
    key: { type: 'string', pattern: KEY_PATTERN.source },
    restoreKeys: { type: 'array', maxItems: MAX_RESTORE_KEYS, items: { type: 'string', pattern: KEY_PREFIX_PATTERN.source, minLength: 1 } },
    probe: { type: 'boolean' },
    allowUntrusted: { type: 'boolean' },
  },
} as const;

export const missingRequestSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['digests'],
  properties: {
    digests: { type: 'array', maxItems: MAX_MISSING_DIGESTS, items: { type: 'string', pattern: DIGEST_PATTERN.source } },
    sizes: { type: 'array', maxItems: MAX_MISSING_DIGESTS, items: { type: 'integer', minimum: 0, maximum: Number.MAX_SAFE_INTEGER } },
  },
} as const;

export const entryListQuerySchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    prefix: { type: 'string', pattern: KEY_PREFIX_PATTERN.source, default: '' },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,3}$', default: '100' },
  },
} as const;

export function blobPath(ns: string, digest: string): string {
  return `${PROTOCOL_PREFIX}/ns/${ns}/blobs/${digest}`;
}

export function entryPath(ns: string, key: string): string {
  return `${PROTOCOL_PREFIX}/ns/${ns}/entries/${key}`;
}
