import { parentPort, workerData } from 'node:worker_threads';
import type { LarderError } from '../../shared/errors.ts';
import { JobRunner } from './jobs.ts';
import { ownMemory } from '../../shared/own-memory.ts';
import type { KnowMessage, PartJob, PartWorkerData, RecycleMessage, WorkerReply } from './worker-pool.ts';

// A worker thread that handles one part at a time (client/workers/jobs.ts): packs it
// (tar → zstd → sha256) for a save, or verifies, unzstds and writes it for a restore
// (downloaded by the main thread, or here when it streams). Its synchronous file calls
// block only this thread, so parts proceed on every core. The pool says which kind of
// job to load ahead, while the walk or lookup runs.

const runner = new JobRunner(workerData as PartWorkerData);

parentPort?.on('message', (job: PartJob | KnowMessage | RecycleMessage) => {
  if (job.kind === 'know') return runner.know(job.rawDigests);
  if (job.kind === 'recycle') return runner.recycle(job.buffers);
  runner.run(job).then(
    (value) => {
      const reply: WorkerReply = { id: job.id, ok: true, result: value };
      parentPort?.postMessage(reply, transferable(reply));
    },
    (err: LarderError) => parentPort?.postMessage({ id: job.id, ok: false, error: err.toJSON() } satisfies WorkerReply),
  );
});

/** A packed part's bytes, or a written download's memory, move to the main thread instead of being copied. */
function transferable(reply: WorkerReply): ArrayBuffer[] {
  if (!reply.ok || typeof reply.result !== 'object') return [];
  if ('spare' in reply.result && reply.result.spare) return [reply.result.spare];
  const bytes = 'ref' in reply.result && 'bytes' in reply.result ? reply.result.bytes : undefined;
  const memory = bytes && ownMemory(bytes);
  return memory ? [memory] : [];
}
