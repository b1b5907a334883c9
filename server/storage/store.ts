import type { Readable } from 'node:stream';
import { LarderError } from '../../shared/errors.ts';

// The one storage port. Every backend implements it and passes the contract suite in
// test/server/storage/contract.ts. Namespaces, keys and digests reach a store already
// validated; bodies reach it already wrapped in a verifying stream (with an error
// listener attached by the caller), so a store must commit a blob only when its body
// ends without error.

export interface ByteRange {
  /** first byte, inclusive */
  start: number;
  /** last byte, inclusive */
  end: number;
}

export interface EntryInfo {
  key: string;
  createdAt: Date;
  size: number;
}

export type PutOutcome = 'created' | 'exists';

export interface BlobInfo {
  digest: string;
  size: number;
  /** when the blob was last written (an upload that replaced it counts) */
  modifiedAt: Date;
}

/**
 * A blob body held by the store under a temporary name while the caller hashes it: for
 * bodies whose digest is only known at their end (other tools' caches, server/protocols/).
 * commit places it under its digest ('exists' when a blob of that size is stored already,
 * unless replace); discard drops it. Either must be called once.
 */
export interface StagedBlob {
  size: number;
  commit(digest: string, options?: { replace?: boolean }): Promise<PutOutcome>;
  discard(): Promise<void>;
}

/**
 * A staged body as each store commits it: a blob of its size already stored stays
 * (unless replace), else the body is placed under its digest; the staged copy goes
 * either way.
 */
export function stagedBlob(size: number, steps: { storedSize(digest: string): Promise<number | undefined>; place(digest: string): Promise<void>; discard(): Promise<void> }): StagedBlob {
  return {
    size,
    discard: steps.discard,
    commit: async (digest, options = {}) => {
      try {
        if (!options.replace && (await steps.storedSize(digest)) === size) return 'exists';
        await steps.place(digest);
        return 'created';
      } finally {
        await steps.discard();
      }
    },
  };
}

/** A small object of the store's own bookkeeping (retention state, leases, access logs). */
export interface MetaObject {
  body: Buffer;
  /** changes whenever the body does; what a conditional write names */
  etag: string;
}

/** ifAbsent: create only; ifEtag: replace only the version with this etag. */
export type MetaCondition = { ifAbsent: true } | { ifEtag: string };

/** Names of bookkeeping objects: lower-case words and slashes, never an entry or a blob. */
export const META_NAME = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)*$/;

export interface Store {
  readonly description: string;
  /** throws when the store cannot serve requests (readiness) */
  check(): Promise<void>;
  /** size of a stored blob, or undefined when it is absent */
  statBlob(ns: string, digest: string): Promise<number | undefined>;
  /** the subset of digests not stored, or (when sizes are given, one per digest) stored with another size */
  missingBlobs(ns: string, digests: readonly string[], sizes?: readonly number[]): Promise<string[]>;
  /**
   * 'exists' when a blob of this size is stored; one of another size (torn, truncated) is
   * replaced. With replace, a stored blob is written again anyway, so its modifiedAt is
   * new: the collector keeps a blob a save has claimed (server/retention/collector.ts).
   */
  putBlob(ns: string, digest: string, body: Readable, size: number, options?: { replace?: boolean }): Promise<PutOutcome>;
  /** writes a body whose digest is not known yet; the caller hashes it on the way (StagedBlob) */
  stageBlob(ns: string, body: Readable): Promise<StagedBlob>;
  /**
   * removes a blob (one found corrupt, or collected); false when it was absent, or, with
   * unlessWrittenAfter, when it was written again after that time (a save claimed it)
   */
  deleteBlob(ns: string, digest: string, options?: { unlessWrittenAfter?: Date }): Promise<boolean>;
  /** a stream of the blob (or of one range of it), or undefined when it is absent */
  getBlob(ns: string, digest: string, range?: ByteRange): Promise<Readable | undefined>;
  getEntry(ns: string, key: string): Promise<Buffer | undefined>;
  /** creates the entry unless one exists: the first writer wins */
  putEntry(ns: string, key: string, manifest: Buffer): Promise<PutOutcome>;
  deleteEntry(ns: string, key: string): Promise<boolean>;
  /** entries whose key starts with prefix, newest first */
  listEntries(ns: string, prefix: string, limit: number): Promise<EntryInfo[]>;
  /** every entry of a namespace as stored now (no index in between), in no order: for the collector */
  allEntries(ns: string): Promise<EntryInfo[]>;
  /** namespaces that hold anything */
  listNamespaces(): Promise<string[]>;
  /** every blob of a namespace with its size and time */
  listBlobs(ns: string): AsyncIterable<BlobInfo>;
  getMeta(name: string): Promise<MetaObject | undefined>;
  /** writes a bookkeeping object; with a condition, 'conflict' when it does not hold (another writer won) */
  putMeta(name: string, body: Buffer, condition?: MetaCondition): Promise<{ etag: string } | 'conflict'>;
  /** names under a prefix ('access/'), sorted */
  listMeta(prefix: string): Promise<string[]>;
  deleteMeta(name: string): Promise<void>;
  /** housekeeping a store needs now and then (S3: abort multipart uploads a crash left); returns what it did, for the log */
  sweep?(): Promise<string | undefined>;
  close(): Promise<void>;
}

/** Which digests are missing, given the sizes stored (undefined: absent) and, optionally, the sizes expected. */
export function missingOf(digests: readonly string[], stored: ReadonlyArray<number | undefined>, sizes?: readonly number[]): string[] {
  return digests.filter((_, i) => stored[i] === undefined || (sizes !== undefined && stored[i] !== sizes[i]));
}

/** A blob body that broke off because the client went away: the client's doing, not the store's. */
export function clientGone(err: unknown): LarderError {
  return new LarderError('LARDER_INCOMPLETE_BODY', 'the upload ended early: the client went away', { cause: err });
}

/** Newest first; equal times fall back to the key so the order is stable. */
export function newestFirst(a: EntryInfo, b: EntryInfo): number {
  return b.createdAt.getTime() - a.createdAt.getTime() || (a.key < b.key ? 1 : a.key > b.key ? -1 : 0);
}
