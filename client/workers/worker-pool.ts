import { Worker } from 'node:worker_threads';
import { type ErrorBody, LarderError } from '../../shared/errors.ts';
import type { PartRef } from '../../shared/wire/manifest.ts';
import type { KnownPart } from '../archive/pack.ts';
import type { ExtractResult } from '../archive/tar-read.ts';
import type { EntryList } from './entry-list.ts';
import { JobRunner } from './jobs.ts';
import { ownMemory } from '../../shared/own-memory.ts';
import { SPARE_GRAIN } from '../spare-memory.ts';

// A few worker threads (one per core by default) running part jobs; jobs queue until
// a worker is free. A worker may hold a second extract job, which the main thread has
// downloaded while it wrote the one before, so it never waits on the network between parts.
// Terminating the pool stops every job at once, which a failed restore needs before it
// removes its staging folders. For a small tree the pool can run its jobs on the main
// thread instead (runHere): a worker takes ~80 ms of both cores to boot, more than
// packing or writing a few MB takes.

export interface PartWorkerData {
  server?: string;
  namespace: string;
  token?: string;
  idleTimeoutMs?: number;
  connectTimeoutMs?: number;
  /** the kind of job whose code a new worker loads before its first job arrives */
  preload?: PartJob['kind'];
  /** raw digests of parts the save's base entry holds (see know()) */
  known?: string[];
  /** the local part cache's folder, when it is on (client/local/part-cache.ts) */
  partCache?: string;
}

/** Not a job: tells a worker more raw digests it need not compress. */
export interface KnowMessage {
  kind: 'know';
  rawDigests: string[];
}

/** Not a job: memory of parts uploaded, handed back for the worker's next frames. */
export interface RecycleMessage {
  kind: 'recycle';
  buffers: ArrayBuffer[];
}

export type PartJob =
  | { id: number; kind: 'pack'; root: string; entries: EntryList; level: number; spill: string; reuse: boolean }
  | { id: number; kind: 'extract'; part: PartRef; root: string; bytes?: Uint8Array }
  | { id: number; kind: 'check'; paths: string[]; since: number };

/**
 * A packed part as it comes back from a worker: its frame in one buffer, or in a file (a
 * part too big for memory, archive/pack.ts), or neither: a stored part, whose frame its
 * upload reads again from the files (archive/reread.ts).
 */
export type PackResult = { ref: PartRef; bytes?: Buffer; file?: string; reread?: true } | KnownPart;

/** An extraction's result, and the memory its download was in, for the next download (client/spare-memory.ts). */
export type ExtractOutcome = ExtractResult & { spare?: ArrayBuffer };

export type WorkerReply = { id: number; ok: true; result: PackResult | ExtractOutcome | boolean } | { id: number; ok: false; error: ErrorBody };

type JobInput = PartJob extends infer J ? (J extends PartJob ? Omit<J, 'id'> : never) : never;

interface Pending {
  job: PartJob;
  resolve: (value: PackResult | ExtractResult | boolean) => void;
  reject: (err: Error) => void;
}

// Where the worker's code is. From the sources, the .ts beside this file; in the client
// package (one folder of bundled files), part-worker.js beside the chunk this code is
// in; in the single executable, an asset inside it (client/package/sea.ts).
declare const __LARDER_SEA__: boolean | undefined;
const WORKER: { code: string | URL; eval: boolean } =
  typeof __LARDER_SEA__ === 'boolean'
    ? { code: (process.getBuiltinModule('node:sea') as { getAsset(name: string, encoding: string): string }).getAsset('part-worker.js', 'utf8'), eval: true }
    : { code: new URL(import.meta.url.endsWith('.ts') ? './part-worker.ts' : './part-worker.js', import.meta.url), eval: false };
/** Jobs a worker may hold at once, by kind: packing is all CPU, nothing to overlap. */
const DEPTH: Record<PartJob['kind'], number> = { pack: 1, extract: 2, check: 1 };
// A worker's objects are few and short-lived (a part's entries); its bytes live outside
// the heap. V8's default young generation (up to 48 MB) only let each worker's heap grow:
// 4 MB took ~40 MB off a big save's peak RSS at the same speed (measured on the
// 647-package node_modules).
const WORKER_YOUNG_GENERATION_MB = 4;
/**
 * A tree of at most this many tar bytes is packed or written on the main thread (runHere):
 * two workers take ~80 ms of both cores to boot. On 2 cores, with copies of a 2,700-file
 * node_modules, the main thread alone saved 27 MB as fast as workers did and 54 MB within
 * 3 %, and restored both 8-15 % faster, with a third less CPU.
 */
export const SMALL_TREE_BYTES = 48 * 1024 * 1024;

export class PartWorkers {
  readonly #size: number;
  readonly #data: PartWorkerData;
  readonly #idle: Worker[] = [];
  readonly #busy = new Map<Worker, Pending[]>();
  readonly #queue: Pending[] = [];
  #nextId = 0;
  #stopped = false;
  /** set by runHere(): jobs run on this thread */
  #here: JobRunner | undefined;

  readonly #onProgress: () => void;
  /** Which worker packed a part's memory, to hand it back there once uploaded. */
  readonly #packedBy = new WeakMap<ArrayBuffer, Worker>();

  constructor(size: number, data: PartWorkerData, onProgress: () => void = () => {}) {
    this.#size = Math.max(1, size);
    this.#data = data;
    this.#onProgress = onProgress;
  }

  async pack(job: Omit<Extract<PartJob, { kind: 'pack' }>, 'id' | 'kind'>): Promise<PackResult> {
    const result = (await this.#run({ kind: 'pack', ...job })) as PackResult;
    if ('known' in result) return result;
    // Posted buffers arrive as plain Uint8Arrays: view them as Buffers again, without a copy.
    const { bytes } = result;
    return bytes ? { ...result, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) } : result;
  }

  /**
   * Raw digests of parts an entry already holds: a pack job with `reuse` whose tar
   * matches one returns { known } instead of compressing. Workers started later get
   * them at start; running ones by message, ahead of any job posted after this call.
   */
  know(rawDigests: string[]): void {
    if (rawDigests.length === 0) return;
    this.#data.known = [...(this.#data.known ?? []), ...rawDigests];
    this.#here?.know(rawDigests);
    const message: KnowMessage = { kind: 'know', rawDigests };
    for (const worker of [...this.#idle, ...this.#busy.keys()]) worker.postMessage(message);
  }

  /**
   * Hands the memory of an uploaded part back to a worker (an idle one first), which builds
   * its next frames in it: no fresh pages to fault in, no garbage to collect here.
   * The buffer must not be used after this.
   */
  recycle(bytes: Buffer): void {
    const memory = ownMemory(bytes);
    if (!memory || memory.byteLength < SPARE_GRAIN) return; // a spare that small is not kept: not worth a message
    if (this.#here) return this.#here.recycle([memory]);
    // To the worker that packed it: each keeps a few spares, and gets back as many as it gives.
    const packer = this.#packedBy.get(memory);
    const worker = packer && (this.#busy.has(packer) || this.#idle.includes(packer)) ? packer : (this.#idle[0] ?? this.#busy.keys().next().value);
    if (!worker) return;
    worker.postMessage({ kind: 'recycle', buffers: [memory] } satisfies RecycleMessage, [memory]);
  }

  /** Extracts a part: its bytes if given (they move to the worker; not to be used after this), else downloaded or read from the part cache there. */
  extract(part: PartRef, root: string, bytes?: Buffer): Promise<ExtractOutcome> {
    return this.#run({ kind: 'extract', part, root, ...(bytes ? { bytes } : {}) }) as Promise<ExtractOutcome>;
  }

  /** Whether nothing below these paths changed after since (one share of a folder's unchangedSince). */
  check(paths: string[], since: number): Promise<boolean> {
    return this.#run({ kind: 'check', paths, since }) as Promise<boolean>;
  }

  get size(): number {
    return this.#size;
  }

  /** Worker threads started and not stopped (none once runHere() has been called). */
  get threads(): number {
    return this.#idle.length + this.#busy.size;
  }

  /**
   * From now on, jobs run on this thread, one after another, and no worker starts: for a
   * tree of a few MB, which one thread packs or writes sooner than workers boot. Only
   * before any worker has started (it would be wasted).
   */
  runHere(): void {
    if (this.threads > 0 || this.#stopped) return;
    this.#here ??= new JobRunner({ ...this.#data });
  }

  /** Starts the workers ahead of their first jobs of this kind (they take ~100 ms to load). */
  warm(kind: PartJob['kind']): void {
    while (!this.#stopped && !this.#here && this.threads < this.#size) {
      const worker = this.#spawn(kind);
      worker.unref();
      this.#idle.push(worker);
    }
  }

  /** Stops every worker now; jobs in flight or queued fail. */
  async terminate(): Promise<void> {
    this.#stopped = true;
    this.#here?.stop();
    const stopped = new LarderError('LARDER_INTERNAL', 'part workers stopped');
    for (const pending of [...[...this.#busy.values()].flat(), ...this.#queue.splice(0)]) pending.reject(stopped);
    const workers = [...this.#idle.splice(0), ...this.#busy.keys()];
    this.#busy.clear();
    await Promise.all(workers.map((w) => w.terminate()));
  }

  #run(input: JobInput): Promise<PackResult | ExtractResult | boolean> {
    if (this.#stopped) return Promise.reject(new LarderError('LARDER_INTERNAL', 'part workers stopped'));
    if (this.#here) return this.#here.run({ ...input, id: this.#nextId++ } as PartJob).finally(this.#onProgress);
    return new Promise((resolve, reject) => {
      this.#queue.push({ job: { ...input, id: this.#nextId++ } as PartJob, resolve, reject });
      this.#dispatch();
    });
  }

  #dispatch(): void {
    while (this.#queue.length > 0) {
      const pending = this.#queue[0] as Pending;
      const worker = this.#idle.pop() ?? (this.#busy.size < this.#size ? this.#spawn(pending.job.kind) : this.#withRoomFor(pending.job.kind));
      if (!worker) return;
      this.#queue.shift();
      this.#busy.set(worker, [...(this.#busy.get(worker) ?? []), pending]);
      worker.ref(); // a busy worker keeps the process alive; an idle one does not
      worker.postMessage(pending.job, movable(pending.job));
    }
  }

  /** A busy worker that can take one more job of this kind, the least loaded first. */
  #withRoomFor(kind: PartJob['kind']): Worker | undefined {
    let best: Worker | undefined;
    for (const [worker, jobs] of this.#busy) {
      if (jobs.length >= DEPTH[kind] || jobs.some((p) => p.job.kind !== kind)) continue;
      if (!best || jobs.length < (this.#busy.get(best) as Pending[]).length) best = worker;
    }
    return best;
  }

  #spawn(preload: PartJob['kind']): Worker {
    const worker = new Worker(WORKER.code, { eval: WORKER.eval, workerData: { ...this.#data, preload } satisfies PartWorkerData, resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB } });
    worker.on('message', (reply: WorkerReply) => {
      const jobs = this.#busy.get(worker) ?? [];
      const at = jobs.findIndex((p) => p.job.id === reply.id);
      const pending = jobs[at];
      if (!pending) return;
      jobs.splice(at, 1);
      if (jobs.length === 0) {
        this.#busy.delete(worker);
        this.#idle.push(worker);
        worker.unref();
      }
      this.#onProgress();
      const packed = reply.ok && typeof reply.result === 'object' && 'bytes' in reply.result && reply.result.bytes ? ownMemory(reply.result.bytes) : undefined;
      if (packed) this.#packedBy.set(packed, worker);
      if (reply.ok) pending.resolve(reply.result);
      else pending.reject(new LarderError(reply.error.code, reply.error.message));
      this.#dispatch();
    });
    worker.on('error', (err) => this.#lost(worker, err));
    worker.on('exit', (code) => this.#lost(worker, new Error(`part worker exited with ${code}`)));
    return worker;
  }

  #lost(worker: Worker, err: Error): void {
    const jobs = this.#busy.get(worker) ?? [];
    this.#busy.delete(worker);
    const idleAt = this.#idle.indexOf(worker);
    if (idleAt >= 0) this.#idle.splice(idleAt, 1);
    for (const pending of jobs) pending.reject(new LarderError('LARDER_INTERNAL', `a part worker failed: ${err.message}`, { cause: err }));
    if (!this.#stopped) this.#dispatch();
  }
}

/** A downloaded part's memory moves to the worker instead of being copied. */
function movable(job: PartJob): ArrayBuffer[] {
  const memory = job.kind === 'extract' && job.bytes ? ownMemory(job.bytes) : undefined;
  return memory ? [memory] : [];
}
