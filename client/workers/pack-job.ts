import { PART_MEMORY_BYTES, packPart, type PartMemory } from '../archive/pack.ts';
import { storedSize } from '../archive/stored.ts';
import { storeLocalPart, storeLocalPartFile } from '../local/part-cache.ts';
import { entriesOf } from './entry-list.ts';
import { SpareMemory } from '../spare-memory.ts';
import { ownMemory } from '../../shared/own-memory.ts';
import type { PackResult, PartJob } from './worker-pool.ts';

// A save's job in a part worker: tar → zstd → sha256, in a tar buffer kept from part to
// part; a part whose tar bytes the save's base entry holds is not compressed, and a
// stored part (jars) is only hashed: its upload reads its files again (archive/reread.ts).

/**
 * Memory of uploaded parts the main thread handed back to the worker that packed them,
 * for the next parts' tars and compressed frames: the smallest spare that holds one
 * (the biggest parts go first, so later ones fit). Before, only stored frames used
 * spares (of their exact size, the biggest one kept, and the pool gave every spare to
 * one worker): the Maven repository's save found one for 14 frames in 39, and every
 * compressed frame was fresh memory. Two kept: eight were as fast and raised that save's
 * peak by ~13 MB (alternating runs).
 */
const spares = new SpareMemory(2);

/**
 * The memory tars are read into, kept from part to part; when the next tar needs more, a
 * spare that holds it takes its place, else new memory with room for the biggest part (a
 * page costs only once it is written, and a tar buffer grown part by part faulted in each
 * size afresh).
 */
let kept: ArrayBuffer | undefined;

const memory: PartMemory = {
  tar: (size) => {
    const room = storedSize(size);
    const own = kept !== undefined && kept.byteLength >= room ? kept : undefined;
    if (kept && !own) spares.give(kept);
    kept = undefined;
    return (own ? Buffer.from(own, 0, room) : spares.take(room, storedSize(PART_MEMORY_BYTES))).subarray(0, size);
  },
  frame: (size) => spares.take(size),
  release: (tar) => {
    kept = tar.buffer as ArrayBuffer;
  },
};

export function takeSpares(buffers: ArrayBuffer[]): void {
  for (const buffer of buffers) spares.give(buffer);
}

export async function packJob(job: Extract<PartJob, { kind: 'pack' }>, known: ReadonlySet<string>, partCache?: string): Promise<PackResult> {
  const packed = await packPart(job.root, entriesOf(job.entries), job.level, job.spill, memory, job.reuse ? known : undefined);
  // What this machine saved, it restores without downloading (client/local/part-cache.ts).
  if (partCache && 'ref' in packed && packed.bytes) storeLocalPart(partCache, packed.ref.digest, packed.bytes);
  if (partCache && 'ref' in packed && packed.file) storeLocalPartFile(partCache, packed.ref.digest, packed.file);
  if ('known' in packed) return packed;
  const { bytes, ...rest } = packed;
  if (!Array.isArray(bytes)) return bytes ? { ...rest, bytes } : rest;
  // A stored frame is pieces of the tar's memory (stored.ts, storedPieces): that memory
  // stays here for the next tar, and the upload reads the files again (archive/reread.ts).
  kept = ownMemory(bytes);
  return { ref: packed.ref, reread: true };
}
