// Memory for parts, used again once a part is done with: a restore's downloads (a part
// worker hands each one's memory back with its result), a save's frames (the main thread
// hands each uploaded part's back to the worker that packed it). Fresh memory costs a
// page fault per 4 KiB the first time it is written: a restore of 211 MB of jars faulted
// ~60,000 times, and copying into fresh pages took ten times as long as into used ones.

/**
 * One buffer a thread keeps for its parts, one part at a time (what it returns is good
 * until the next call): a worker packing fifty 8 MiB parts allocates (and makes the GC
 * account for) one buffer instead of fifty. It is made at `capacity` (room for the
 * largest part) the first time: a page costs only once it is written, while a buffer
 * grown with the parts, which come in any order of size, had each larger size's pages
 * faulted in afresh (a .venv's save: ~7,000 page faults of 38,000).
 */
export function keptMemory(capacity = 0): (size: number) => Buffer {
  let kept = Buffer.allocUnsafeSlow(0);
  return (size) => {
    if (kept.length < size) kept = Buffer.allocUnsafeSlow(Math.max(size, capacity));
    return kept.subarray(0, size);
  };
}

/** New memory is taken in whole MiB, so a spare fits the next part of about its size; less is not kept. */
export const SPARE_GRAIN = 1024 * 1024;

export class SpareMemory {
  readonly #spares: ArrayBuffer[] = [];
  readonly #kept: number;

  /** Keeps at most `kept` spares, so memory stays bounded. */
  constructor(kept: number) {
    this.#kept = kept;
  }

  /** A buffer of `size` bytes: the smallest spare that holds it, else new memory of `capacity` (pages cost only once written). */
  take(size: number, capacity = size): Buffer {
    let best = -1;
    this.#spares.forEach((spare, i) => {
      if (spare.byteLength >= size && (best < 0 || spare.byteLength < (this.#spares[best] as ArrayBuffer).byteLength)) best = i;
    });
    if (best < 0) return Buffer.allocUnsafeSlow(Math.ceil(Math.max(size, capacity, 1) / SPARE_GRAIN) * SPARE_GRAIN).subarray(0, size);
    const [spare] = this.#spares.splice(best, 1);
    return Buffer.from(spare as ArrayBuffer, 0, size);
  }

  /** Memory no longer in use (nothing may read or write it after this); the smallest goes when there are too many. */
  give(memory: ArrayBuffer): void {
    if (memory.byteLength < SPARE_GRAIN) return;
    this.#spares.push(memory);
    if (this.#spares.length > this.#kept) this.#spares.sort((a, b) => b.byteLength - a.byteLength).pop();
  }
}
