import { isLarderError, LarderError } from '../../shared/errors.ts';
import type { PartRef } from '../../shared/manifest.ts';
import type { ExtractResult } from '../archive/tar-read.ts';
import { CacheClient } from '../transport/transfer.ts';
import { extractPart, extractPartBuffer, fitsInMemory, readPart } from '../archive/unpack.ts';
import { forgetLocalPart, readLocalPart, storeListing, storeLocalPart } from '../local/part-cache.ts';
import type { PartJob, PartWorkerData } from './worker-pool.ts';

// A restore's job in a part worker: download → verify → unzstd → write into staging.
// A part that fits in memory starts downloading as soon as its job arrives, while the
// part before it is still being written, so the worker never waits on the network
// between parts. A streamed part (over 64 MiB) downloads in its turn: its body must not
// sit unread for the idle timeout.

let client: CacheClient | undefined;

/** Closes the jobs' connections (on the main thread they would outlive the pool). */
export function closeClient(): void {
  void client?.close();
  client = undefined;
}

/**
 * Starts what can start now; the returned function extracts the part when its turn comes.
 * live() throws once the pool has stopped: on the main thread a download may end after a
 * failed restore removed its staging folders, and nothing may be written then.
 */
export function startExtractJob(job: Extract<PartJob, { kind: 'extract' }>, data: PartWorkerData, live: () => void = () => {}): () => Promise<ExtractResult> {
  if (!data.server) throw new Error('no server given to this worker');
  const c = (client ??= new CacheClient({ server: data.server, namespace: data.namespace, token: data.token, idleTimeoutMs: data.idleTimeoutMs, connectTimeoutMs: data.connectTimeoutMs }));
  const { part, root } = job;
  // A streamed part writes files as it goes, so a broken download cannot start over.
  if (!fitsInMemory(part)) return async () => (live(), extractPart(await c.getBlob(part.digest), part, root).catch((err: unknown) => Promise.reject(downloadError(err, part))));
  // A part this machine has: verified before a byte is written, like a download, and
  // downloaded after all when it is found corrupt.
  const cache = data.partCache;
  const local = cache === undefined ? undefined : readLocalPart(cache, part);
  // With the local cache on, a part's member list is kept beside it (what a restore in place reads).
  const extractListed = (bytes: Buffer): ExtractResult => {
    live();
    const { members, ...result } = extractPartBuffer(bytes, part, root, cache !== undefined);
    if (cache && members) storeListing(cache, part.digest, members);
    return result;
  };
  const extractDownload = async (bytes: Promise<Buffer>): Promise<ExtractResult> => {
    const fetched = await bytes;
    const result = extractListed(fetched);
    if (cache) storeLocalPart(cache, part.digest, fetched); // verified by now
    return result;
  };
  if (local && cache) {
    return async () => {
      try {
        return { ...extractListed(local), local: true };
      } catch (err) {
        if (!isLarderError(err, 'LARDER_INTEGRITY')) throw err;
        forgetLocalPart(cache, part.digest);
        return extractDownload(download(c, part));
      }
    };
  }
  const bytes = download(c, part);
  bytes.catch(() => {}); // reported in its turn, not as an unhandled rejection now
  return () => extractDownload(bytes);
}

/** A part's bytes; a download that stalls or breaks (after its headers) is tried once more. */
async function download(c: CacheClient, part: PartRef): Promise<Buffer> {
  try {
    return await readPart(await c.getBlob(part.digest), part);
  } catch (err) {
    const error = downloadError(err, part);
    if (error.code !== 'LARDER_TIMEOUT' && error.code !== 'LARDER_UNREACHABLE') throw error;
    return readPart(await c.getBlob(part.digest), part).catch((again: unknown) => Promise.reject(downloadError(again, part)));
  }
}

/** A body that broke off (the socket timed out or closed) as a catalogue error, not "aborted". */
function downloadError(err: unknown, part: PartRef): LarderError {
  if (isLarderError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new LarderError('LARDER_TIMEOUT', `the download of part ${part.digest} stalled or broke off (${code}); the server or the network between stopped sending`, { cause: err });
}
