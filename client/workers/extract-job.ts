import type { ExtractResult } from '../archive/tar-read.ts';
import { CacheClient } from '../transport/transfer.ts';
import { extractPart, extractPartBuffer, IN_MEMORY_PART_LIMIT, readPart } from '../archive/unpack.ts';
import type { PartJob, PartWorkerData } from './worker-pool.ts';

// A restore's job in a part worker: download → verify → unzstd → write into staging.
// A part that fits in memory starts downloading as soon as its job arrives, while the
// part before it is still being written, so the worker never waits on the network
// between parts. A streamed part (over 64 MiB) downloads in its turn: its body must not
// sit unread for the idle timeout.

let client: CacheClient | undefined;

/** Starts what can start now; the returned function extracts the part when its turn comes. */
export function startExtractJob(job: Extract<PartJob, { kind: 'extract' }>, data: PartWorkerData): () => Promise<ExtractResult> {
  if (!data.server) throw new Error('no server given to this worker');
  const c = (client ??= new CacheClient({ server: data.server, namespace: data.namespace, token: data.token, idleTimeoutMs: data.idleTimeoutMs }));
  const { part, root } = job;
  if (part.size > IN_MEMORY_PART_LIMIT) return async () => extractPart(await c.getBlob(part.digest), part, root);
  const bytes = c.getBlob(part.digest).then((body) => readPart(body, part));
  bytes.catch(() => {}); // reported in its turn, not as an unhandled rejection now
  return async () => extractPartBuffer(await bytes, part, root);
}
