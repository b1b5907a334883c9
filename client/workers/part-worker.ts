import { dirname } from 'node:path';
import { parentPort, workerData } from 'node:worker_threads';
import { fromSystemError, isLarderError } from '../../shared/errors.ts';
import { loadZstd } from '../archive/zstd.ts';
import { unchangedBelow } from '../folders/folder-state.ts';
import { once } from '../once.ts';
import type { ExtractResult } from '../archive/tar-read.ts';
import type { KnowMessage, PackResult, PartJob, PartWorkerData, RecycleMessage, WorkerReply } from './worker-pool.ts';

// A worker thread that handles one part at a time: packs it (tar → zstd → sha256) for
// a save, or downloads, verifies, unzstds and writes it for a restore. Its synchronous
// file calls block only this thread, so parts proceed on every core. It loads only the
// code its jobs need: every module costs each thread CPU to strip and compile, and a
// save's workers have no use for the HTTP client and tar reader (nor a restore's for
// the packer). The pool says which kind to load ahead, while the walk or lookup runs.

const data = workerData as PartWorkerData;
const known = new Set(data.known);
// zstd first: on Node 20 the portable codec compiles its wasm (client/archive/zstd.ts).
const loadPacker = once(async () => (await Promise.all([import('./pack-job.ts'), loadZstd()]))[0]);
const loadExtractor = once(async () => (await Promise.all([import('./extract-job.ts'), loadZstd()]))[0]);
// A preload that fails is reported by the first job, which awaits the same import.
if (data.preload === 'pack') loadPacker().catch(() => {});
if (data.preload === 'extract') loadExtractor().catch(() => {});

// Jobs run one after another; an extract job's download starts on arrival.
let previous: Promise<unknown> = Promise.resolve();

parentPort?.on('message', (job: PartJob | KnowMessage | RecycleMessage) => {
  if (job.kind === 'know') {
    for (const digest of job.rawDigests) known.add(digest);
    return;
  }
  if (job.kind === 'recycle') {
    loadPacker().then(({ takeSpares }) => takeSpares(job.buffers), () => {});
    return;
  }
  const run = prepare(job);
  run.catch(() => {}); // its failure is reported below, in its turn
  const result = previous.then(() => run).then((start) => start());
  previous = result.catch(() => {});
  result.then(
    (value) => {
      const reply: WorkerReply = { id: job.id, ok: true, result: value };
      parentPort?.postMessage(reply, transferable(reply));
    },
    (err: unknown) => {
      const error = isLarderError(err) ? err.toJSON() : (fromSystemError(err, job.kind === 'extract' ? dirname(job.root) : job.kind === 'pack' ? job.root : undefined)?.toJSON() ?? { code: 'LARDER_INTERNAL' as const, message: (err as Error)?.stack ?? String(err) });
      parentPort?.postMessage({ id: job.id, ok: false, error } satisfies WorkerReply);
    },
  );
});

/** Loads the job's code and, for a restore, starts its download; resolves to the work itself. */
async function prepare(job: PartJob): Promise<() => Promise<PackResult | ExtractResult | boolean>> {
  // A share of checking that a folder still holds what it held (client/folders/folder-state.ts).
  if (job.kind === 'check') return async () => unchangedBelow(job.paths, job.since);
  if (job.kind === 'pack') {
    const { packJob } = await loadPacker();
    return () => packJob(job, known, data.partCache);
  }
  const { startExtractJob } = await loadExtractor();
  return startExtractJob(job, data);
}

/** A packed part's bytes move to the main thread instead of being copied. */
function transferable(reply: WorkerReply): ArrayBuffer[] {
  const bytes = reply.ok && typeof reply.result === 'object' && 'ref' in reply.result && 'bytes' in reply.result ? reply.result.bytes : undefined;
  // Only memory of its own: a small Buffer may share a pooled slab with others.
  if (!bytes || !(bytes.buffer instanceof ArrayBuffer) || bytes.buffer.byteLength <= Buffer.poolSize) return [];
  return [bytes.buffer];
}
