import { parentPort, workerData } from 'node:worker_threads';
import { isLarderError } from '../shared/errors.ts';
import { packPart } from './pack.ts';
import { reusedMemory } from './tar-write.ts';
import { CacheClient } from './transfer.ts';
import { extractPart, extractPartBuffer, IN_MEMORY_PART_LIMIT, readPart } from './unpack.ts';
import type { PartJob, PartWorkerData, WorkerReply } from './worker-pool.ts';

// A worker thread that handles one part at a time: packs it (tar → zstd → sha256) for
// a save, or downloads, verifies, unzstds and writes it for a restore. Its synchronous
// file calls block only this thread, so parts proceed on every core.

const data = workerData as PartWorkerData;
const tarMemory = reusedMemory();
const client = data.server ? new CacheClient({ server: data.server, namespace: data.namespace, token: data.token, idleTimeoutMs: data.idleTimeoutMs }) : undefined;

async function handle(job: PartJob): Promise<WorkerReply> {
  if (job.kind === 'pack') {
    const packed = await packPart(job.root, job.entries, job.level, job.bufferLimit, tarMemory);
    const bytes = packed.bytes?.length === 1 ? packed.bytes[0] : packed.bytes && Buffer.concat(packed.bytes);
    return { id: job.id, ok: true, result: { ref: packed.ref, bytes } };
  }
  if (!client) throw new Error('no server given to this worker');
  const body = await client.getBlob(job.part.digest);
  const result =
    job.part.size <= IN_MEMORY_PART_LIMIT
      ? extractPartBuffer(await readPart(body, job.part), job.part, job.root)
      : await extractPart(body, job.part, job.root);
  return { id: job.id, ok: true, result };
}

parentPort?.on('message', (job: PartJob) => {
  handle(job).then(
    (reply) => parentPort?.postMessage(reply, transferable(reply)),
    (err: unknown) => {
      const error = isLarderError(err) ? err.toJSON() : { code: 'LARDER_INTERNAL' as const, message: (err as Error)?.stack ?? String(err) };
      parentPort?.postMessage({ id: job.id, ok: false, error } satisfies WorkerReply);
    },
  );
});

/** A packed part's bytes move to the main thread instead of being copied. */
function transferable(reply: WorkerReply): ArrayBuffer[] {
  const bytes = reply.ok && 'ref' in reply.result ? reply.result.bytes : undefined;
  // Only memory of its own: a small Buffer may share a pooled slab with others.
  if (!bytes || !(bytes.buffer instanceof ArrayBuffer) || bytes.buffer.byteLength <= Buffer.poolSize) return [];
  return [bytes.buffer];
}
