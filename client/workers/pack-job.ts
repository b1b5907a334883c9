import { PART_MEMORY_BYTES, packPart, type PartMemory } from '../archive/pack.ts';
import { storeLocalPart, storeLocalPartFile } from '../local/part-cache.ts';
import { entriesOf } from './entry-list.ts';
import { keptMemory, SpareMemory } from '../spare-memory.ts';
import type { PackResult, PartJob } from './worker-pool.ts';

// A save's job in a part worker: tar → zstd → sha256, in one tar buffer kept from part
// to part; a part whose tar bytes the save's base entry holds is not compressed.

/**
 * Memory of uploaded parts the main thread handed back to the worker that packed them,
 * for the next parts' frames, stored or compressed: the smallest spare that holds a frame
 * (the biggest parts go first, so later ones fit). Before, only stored frames used
 * spares (of their exact size, the biggest one kept, and the pool gave every spare to
 * one worker): the Maven repository's save found one for 14 frames in 39, and every
 * compressed frame was fresh memory. Two kept: eight were as fast and raised that save's
 * peak by ~13 MB (alternating runs).
 */
const spares = new SpareMemory(2);

const memory: PartMemory = { tar: keptMemory(PART_MEMORY_BYTES), frame: (size) => spares.take(size) };

export function takeSpares(buffers: ArrayBuffer[]): void {
  for (const buffer of buffers) spares.give(buffer);
}

export async function packJob(job: Extract<PartJob, { kind: 'pack' }>, known: ReadonlySet<string>, partCache?: string): Promise<PackResult> {
  const packed = await packPart(job.root, entriesOf(job.entries), job.level, job.spill, memory, job.reuse ? known : undefined);
  // What this machine saved, it restores without downloading (client/local/part-cache.ts).
  if (partCache && 'ref' in packed && packed.bytes) storeLocalPart(partCache, packed.ref.digest, packed.bytes);
  if (partCache && 'ref' in packed && packed.file) storeLocalPartFile(partCache, packed.ref.digest, packed.file);
  return packed;
}
