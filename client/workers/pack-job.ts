import { packPart, type PartMemory } from '../archive/pack.ts';
import { reusedMemory } from '../archive/tar-write.ts';
import { storeLocalPart, storeLocalPartFile } from '../local/part-cache.ts';
import { entriesOf } from './entry-list.ts';
import type { PackResult, PartJob } from './worker-pool.ts';

// A save's job in a part worker: tar → zstd → sha256, in one tar buffer kept from part
// to part; a part whose tar bytes the save's base entry holds is not compressed.

/**
 * Memory of uploaded parts the main thread handed back, for the next stored frames. One
 * is enough to build in: a second only raised the peak (Maven repository save, alternating
 * runs: 230-246 MB kept one, 236-266 MB kept two, at the same speed).
 */
const spares: ArrayBuffer[] = [];
const SPARES_KEPT = 1;

const memory: PartMemory = {
  tar: reusedMemory(),
  frame(size) {
    const at = spares.findIndex((b) => b.byteLength >= size);
    const spare = at >= 0 ? spares.splice(at, 1)[0] : undefined;
    return spare ? Buffer.from(spare, 0, size) : Buffer.allocUnsafeSlow(size);
  },
};

/** Keeps the biggest: the likeliest to fit the next part. */
export function takeSpares(buffers: ArrayBuffer[]): void {
  spares.push(...buffers);
  spares.sort((a, b) => b.byteLength - a.byteLength).splice(SPARES_KEPT);
}

export async function packJob(job: Extract<PartJob, { kind: 'pack' }>, known: ReadonlySet<string>, partCache?: string): Promise<PackResult> {
  const packed = await packPart(job.root, entriesOf(job.entries), job.level, job.spill, memory, job.reuse ? known : undefined);
  // What this machine saved, it restores without downloading (client/local/part-cache.ts).
  if (partCache && 'ref' in packed && packed.bytes) storeLocalPart(partCache, packed.ref.digest, packed.bytes);
  if (partCache && 'ref' in packed && packed.file) storeLocalPartFile(partCache, packed.ref.digest, packed.file);
  return packed;
}
