import { dirname } from 'node:path';
import { fromSystemError, isLarderError, LarderError } from '../../shared/errors.ts';
import { loadZstd } from '../archive/zstd.ts';
import { unchangedBelow } from '../folders/folder-state.ts';
import { once } from '../once.ts';
import type { ExtractOutcome, PackResult, PartJob, PartWorkerData } from './worker-pool.ts';

// What a part worker does with its jobs, wherever it runs: in a worker thread
// (part-worker.ts) or, for a tree too small to be worth booting threads for, on the main
// thread (PartWorkers.runHere). It loads only the code its jobs need: every module costs
// each thread CPU to compile, and a save has no use for the HTTP client and tar reader
// (nor a restore for the packer).

type JobResult = PackResult | ExtractOutcome | boolean;

export class JobRunner {
  readonly #data: PartWorkerData;
  readonly #known: Set<string>;
  // zstd first: on Node 20 the portable codec compiles its wasm (client/archive/zstd.ts).
  readonly #packer = once(async () => (await Promise.all([import('./pack-job.ts'), loadZstd()]))[0]);
  readonly #extractor = once(async () => (await Promise.all([import('./extract-job.ts'), loadZstd()]))[0]);
  /** Jobs run one after another; an extract job's download starts on arrival. */
  #previous: Promise<unknown> = Promise.resolve();
  #stopped = false;
  #extracted = false;

  constructor(data: PartWorkerData) {
    this.#data = data;
    this.#known = new Set(data.known);
    // A preload that fails is reported by the first job, which awaits the same import.
    if (data.preload === 'pack') this.#packer().catch(() => {});
    if (data.preload === 'extract') this.#extractor().catch(() => {});
  }

  /** More raw digests of parts the save's base entry holds: not compressed again. */
  know(rawDigests: string[]): void {
    for (const digest of rawDigests) this.#known.add(digest);
  }

  /** Memory of parts uploaded, for the next frames. */
  recycle(buffers: ArrayBuffer[]): void {
    this.#packer().then(({ takeSpares }) => takeSpares(buffers), () => {});
  }

  run(job: PartJob): Promise<JobResult> {
    const prepared = this.#prepare(job);
    prepared.catch(() => {}); // its failure is reported below, in its turn
    const result = this.#previous.then(() => prepared).then((start) => start());
    this.#previous = result.catch(() => {});
    return result.catch((err: unknown) => Promise.reject(jobError(err, job)));
  }

  /** No job starts writing after this (a failed restore is about to remove its staging folders). */
  stop(): void {
    this.#stopped = true;
    if (this.#extracted) this.#extractor().then(({ closeClient }) => closeClient(), () => {});
  }

  /** Loads the job's code and, for a restore, starts its download; resolves to the work itself. */
  async #prepare(job: PartJob): Promise<() => Promise<JobResult>> {
    const live = () => {
      if (this.#stopped) throw new LarderError('LARDER_INTERNAL', 'part workers stopped');
    };
    // A share of checking that a folder still holds what it held (client/folders/folder-state.ts).
    if (job.kind === 'check') return async () => unchangedBelow(job.paths, job.since);
    if (job.kind === 'pack') {
      const { packJob } = await this.#packer();
      return async () => (live(), packJob(job, this.#known, this.#data.partCache));
    }
    this.#extracted = true;
    const { startExtractJob } = await this.#extractor();
    return startExtractJob(job, this.#data, live);
  }
}

/** A job's failure as the catalogue error its caller reports. */
export function jobError(err: unknown, job: PartJob): LarderError {
  if (isLarderError(err)) return err;
  const folder = job.kind === 'extract' ? dirname(job.root) : job.kind === 'pack' ? job.root : undefined;
  return fromSystemError(err, folder) ?? new LarderError('LARDER_INTERNAL', (err as Error)?.stack ?? String(err));
}
