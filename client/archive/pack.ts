import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { join } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { finishDigest, sha256Digest } from '../../shared/wire/digest.ts';
import type { PartRef } from '../../shared/wire/manifest.ts';
import { encodeTimes } from '../../shared/wire/times.ts';
import { MAX_PART_BYTES, tarBytesOf } from './parts.ts';
import { storedFrame, storedPieces, storedSize, worthCompressing } from './stored.ts';
import { CHUNK_BYTES, type TarMemory, tarBuffer, tarChunks } from './tar-write.ts';
import type { TreeEntry } from './tree.ts';
import { STREAM_CHUNK_BYTES, zstd } from './zstd.ts';

// One part: tar → zstd → sha256, with its members' times beside it and the sha256 of its
// tar bytes (rawDigest). A part up to 16 MiB raw (every ordinary part) is built in
// memory and compressed in one call, or stored when its bytes are compressed already
// (stored.ts). A bigger one (one big file) streams, and its compressed bytes go to a
// file in the save's spill folder: a 140 MB native binary never sits in memory.

/** A part's bytes in order: one buffer, or a stored frame's pieces (stored.ts, storedPieces), views of one memory. */
export type PartBytes = Buffer | Buffer[];

export interface PackedPart {
  ref: PartRef;
  /** the compressed bytes of a part built in memory... */
  bytes?: PartBytes;
  /** ...or the file a streamed part's went to, in the spill folder; its uploader removes it */
  file?: string;
}

/** A part whose tar bytes an entry already holds: it was not compressed again. */
export interface KnownPart {
  known: { rawDigest: string; times: string };
}

/**
 * Parts up to this raw size are built in memory and compressed in one call (the fast
 * path): every part of several files (parts.ts caps those), while one bigger file streams.
 * A worker keeps the memory of its biggest part so far, so this also bounds each one's.
 */
export const IN_MEMORY_RAW_LIMIT = MAX_PART_BYTES;

/** Room for any in-memory part's tar or frame: the raw limit, and a MiB for its headers and framing. */
export const PART_MEMORY_BYTES = IN_MEMORY_RAW_LIMIT + 1024 * 1024;

/**
 * Where a part's bytes are built, in memory that leaves with the part (a worker gets back
 * the memory of parts uploaded, so the main thread does not hold each one until a garbage
 * collection, and no frame faults in fresh pages): `tar` gives memory for its tar with room
 * after it, the caller's alone, for its stored frame (stored.ts, storedSize), which is
 * built there; `frame` for a compressed frame; `release` takes back a tar's memory once
 * its part was compressed or found known.
 */
export interface PartMemory {
  tar: TarMemory;
  frame: TarMemory;
  release: (tar: Buffer) => void;
}

/**
 * Packs a part: in memory with one zstd call when it is small enough (every part of
 * several files), or stored when a sample says zstd would gain little; streaming into a
 * file in `spill` otherwise (one big file makes one big part). A part whose tar bytes are
 * among `known` (raw digests of an entry this save builds on) is not compressed at all:
 * hashing the tar costs a fraction of compressing it.
 */
export async function packPart(root: string, entries: readonly TreeEntry[], level: number, spill: string, memory?: PartMemory): Promise<PackedPart>;
export async function packPart(root: string, entries: readonly TreeEntry[], level: number, spill: string, memory: PartMemory | undefined, known: ReadonlySet<string> | undefined): Promise<PackedPart | KnownPart>;
export async function packPart(root: string, entries: readonly TreeEntry[], level: number, spill: string, memory?: PartMemory, known?: ReadonlySet<string>): Promise<PackedPart | KnownPart> {
  const estimate = entries.reduce((sum, e) => sum + tarBytesOf(e), 0);
  if (estimate > IN_MEMORY_RAW_LIMIT) {
    // One big file: reading it once more to hash it costs far less than compressing it.
    if (known !== undefined && known.size > 0) {
      const rawDigest = rawDigestOf(root, entries);
      if (known.has(rawDigest)) return { known: { rawDigest, times: timesOf(entries) } };
    }
    return packPartStreaming(root, entries, level, spill);
  }
  const tar = tarBuffer(root, entries, memory?.tar);
  if (!worthCompressing(tar)) {
    // Stored: the part is not recognised by its tar bytes (no rawDigest, which would cost
    // a hash) but by its digest, which depends on those bytes alone.
    const stored = memory ? storedPieces(tar) : storedFrame(tar);
    return { ref: { digest: sha256Digest(stored), size: storedSize(tar.length), rawSize: tar.length, entries: entries.length, times: timesOf(entries) }, bytes: stored };
  }
  const rawDigest = sha256Digest(tar);
  if (known?.has(rawDigest)) {
    memory?.release(tar);
    return { known: { rawDigest, times: timesOf(entries) } };
  }
  const compressed = zstd().compress(tar, level, memory?.frame);
  memory?.release(tar);
  return {
    ref: { digest: sha256Digest(compressed), size: compressed.length, rawSize: tar.length, entries: entries.length, times: timesOf(entries), rawDigest },
    bytes: compressed,
  };
}

/** The sha256 of a part's tar bytes, streamed in chunks: for parts too big for memory. */
function rawDigestOf(root: string, entries: readonly TreeEntry[]): string {
  const hash = createHash('sha256');
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES); // each is hashed before the next is read
  for (const part of tarChunks(root, entries, () => chunk)) hash.update(part);
  return finishDigest(hash);
}

/** The members' mtimes in whole seconds, as the manifest carries them beside the part. */
export function timesOf(entries: readonly TreeEntry[]): string {
  return encodeTimes(entries.map((e) => Math.floor(e.mtimeMs / 1000)));
}

/**
 * Streams a part through zstd into a new file in `spill` (removed if packing fails),
 * hashing the tar and the compressed bytes on the way. The tar is read into two 1 MiB
 * buffers in turn: one is read while zstd consumes the other.
 */
export async function packPartStreaming(root: string, entries: readonly TreeEntry[], level: number, spill: string): Promise<PackedPart> {
  const hash = createHash('sha256');
  const rawHash = createHash('sha256');
  let rawSize = 0;
  let size = 0;
  const file = join(spill, `${randomBytes(8).toString('hex')}.zst`);
  const hashed = new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      hash.update(chunk);
      size += chunk.length;
      callback(null, chunk);
    },
  });
  const compress = zstd().compressStream(level);
  const written = pipeline(compress, hashed, createWriteStream(file, { flags: 'wx', highWaterMark: STREAM_CHUNK_BYTES }));
  written.catch(() => {}); // awaited below
  const buffers = [Buffer.allocUnsafe(CHUNK_BYTES), Buffer.allocUnsafe(CHUNK_BYTES)];
  let turn = 0;
  try {
    // A write's callback says zstd has taken in all of that chunk: only then is its buffer read into again.
    let consumed: Promise<unknown> = Promise.resolve();
    for (const chunk of tarChunks(root, entries, () => buffers[turn++ % 2] as Buffer)) {
      rawSize += chunk.length;
      rawHash.update(chunk);
      await Promise.race([consumed, written]);
      consumed = new Promise<void>((resolve, reject) => compress.write(chunk, (err) => (err ? reject(err) : resolve())));
      consumed.catch(() => {}); // awaited in turn, or the pipeline's failure says it first
    }
    await Promise.race([consumed, written]);
    compress.end();
    await written;
  } catch (err) {
    compress.destroy();
    await written.catch(() => {});
    rmSync(file, { force: true });
    throw err;
  }
  return { ref: { digest: finishDigest(hash), size, rawSize, entries: entries.length, times: timesOf(entries), rawDigest: finishDigest(rawHash) }, file };
}
