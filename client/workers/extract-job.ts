import { isLarderError } from '../../shared/errors.ts';
import type { ExtractResult } from '../archive/tar-read.ts';
import { CacheClient } from '../transport/transfer.ts';
import { extractPart, extractPartBuffer, fitsInMemory } from '../archive/unpack.ts';
import { downloadError, downloadPart } from '../transport/part-download.ts';
import { forgetLocalPart, readLocalPart, storeListing, storeLocalPart } from '../local/part-cache.ts';
import { ownMemory } from '../../shared/own-memory.ts';
import type { ExtractOutcome, PartJob, PartWorkerData } from './worker-pool.ts';

// A restore's job in a part worker: verify → unzstd → write into staging. A part that
// fits in memory comes downloaded by the main thread (client/transport/part-download.ts),
// or from this machine's part cache; a streamed part (over 64 MiB compressed) downloads here in its
// turn: its body must not sit unread for the idle timeout.

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
export function startExtractJob(job: Extract<PartJob, { kind: 'extract' }>, data: PartWorkerData, live: () => void = () => {}): () => Promise<ExtractOutcome> {
  const c = (): CacheClient => {
    if (!data.server) throw new Error('no server given to this worker');
    return (client ??= new CacheClient({ server: data.server, namespace: data.namespace, token: data.token, idleTimeoutMs: data.idleTimeoutMs, connectTimeoutMs: data.connectTimeoutMs }));
  };
  const { part, root } = job;
  // A streamed part writes files as it goes, so a broken download cannot start over.
  if (!fitsInMemory(part)) return async () => (live(), extractPart(await c().getBlob(part.digest), part, root).catch((err: unknown) => Promise.reject(downloadError(err, part))));
  const cache = data.partCache;
  // With the local cache on, a part's member list is kept beside it (what a restore in place reads).
  const extractListed = (bytes: Buffer): ExtractResult => {
    live();
    const { members, ...result } = extractPartBuffer(bytes, part, root, cache !== undefined);
    if (cache && members) storeListing(cache, part.digest, members);
    return result;
  };
  // The download's memory goes back with the result, for the next download: nothing here holds on to it.
  const extractDownload = async (bytes: Promise<Buffer>): Promise<ExtractOutcome> => {
    const fetched = await bytes;
    const result = extractListed(fetched);
    if (cache) storeLocalPart(cache, part.digest, fetched); // verified by now
    const spare = ownMemory(fetched);
    return spare ? { ...result, spare } : result;
  };
  // Downloaded by the main thread, which reads sockets while the workers write.
  if (job.bytes) {
    const given = Buffer.from(job.bytes.buffer, job.bytes.byteOffset, job.bytes.byteLength);
    return () => extractDownload(Promise.resolve(given));
  }
  // A part this machine has: verified before a byte is written, like a download, and
  // downloaded after all when it is found corrupt.
  const local = cache === undefined ? undefined : readLocalPart(cache, part);
  if (local && cache) {
    return async () => {
      try {
        return { ...extractListed(local), local: true };
      } catch (err) {
        if (!isLarderError(err, 'LARDER_INTEGRITY')) throw err;
        forgetLocalPart(cache, part.digest);
        return extractDownload(downloadPart(c(), part));
      }
    };
  }
  const bytes = downloadPart(c(), part);
  bytes.catch(() => {}); // reported in its turn, not as an unhandled rejection now
  return () => extractDownload(bytes);
}
