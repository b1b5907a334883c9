import { packPart } from '../archive/pack.ts';
import { reusedMemory } from '../archive/tar-write.ts';
import { storeLocalPart } from '../local/part-cache.ts';
import type { PackResult, PartJob } from './worker-pool.ts';

// A save's job in a part worker: tar → zstd → sha256, in one tar buffer kept from part
// to part; a part whose tar bytes the save's base entry holds is not compressed.

const tarMemory = reusedMemory();

export async function packJob(job: Extract<PartJob, { kind: 'pack' }>, known: ReadonlySet<string>, partCache?: string): Promise<PackResult> {
  const packed = await packPart(job.root, job.entries, job.level, job.bufferLimit, tarMemory, job.reuse ? known : undefined);
  if ('known' in packed) return packed;
  const bytes = packed.bytes?.length === 1 ? packed.bytes[0] : packed.bytes && Buffer.concat(packed.bytes);
  // What this machine saved, it restores without downloading (client/local/part-cache.ts).
  if (partCache && bytes) storeLocalPart(partCache, packed.ref.digest, bytes);
  return { ref: packed.ref, bytes };
}
