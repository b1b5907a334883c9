import { createHash, type Hash } from 'node:crypto';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { finishDigest, sha256Digest } from '../../shared/digest.ts';
import type { PartRef } from '../../shared/manifest.ts';
import { encodeTimes } from '../../shared/times.ts';
import { tarBytesOf } from './parts.ts';
import { storedFrame, worthCompressing } from './stored.ts';
import { type TarMemory, tarBuffer, tarChunks } from './tar-write.ts';
import type { TreeEntry } from './tree.ts';
import { zstd } from './zstd.ts';

// One part: tar → zstd → sha256, with its members' times beside it and the sha256 of its
// tar bytes (rawDigest). A part up to 64 MiB raw (every ordinary part) is built in
// memory and compressed in one call, or stored when its bytes are compressed already
// (stored.ts). A bigger one (one big file) streams; its compressed bytes are kept only
// up to the buffer limit, and past that the uploader packs it a second time with
// compressedPartStream rather than writing a temporary file.

export interface PackedPart {
  ref: PartRef;
  /** the compressed bytes, or undefined when a streamed part was over the buffer limit */
  bytes: Buffer[] | undefined;
}

/** A part whose tar bytes an entry already holds: it was not compressed again. */
export interface KnownPart {
  known: { rawDigest: string; times: string };
}

/** Counts (and, when given a hash, hashes) the tar bytes as they stream. */
interface RawCounter {
  rawBytes: number;
  rawHash?: Hash;
}

export function compressedPartStream(root: string, entries: readonly TreeEntry[], level: number, counter: RawCounter = { rawBytes: 0 }): Readable {
  const tar = Readable.from(counted(tarChunks(root, entries), counter), { objectMode: false });
  const compress = zstd().compressStream(level);
  tar.once('error', (err) => compress.destroy(err));
  return tar.pipe(compress);
}

/** Parts up to this raw size are built in memory and compressed in one call (the fast path). */
export const IN_MEMORY_RAW_LIMIT = 64 * 1024 * 1024;

/**
 * Packs a part: in memory with one zstd call when it is small enough (every ~4 MiB
 * part), streaming otherwise (one big file makes one big part). A part in memory
 * whose tar bytes are among `known` (raw digests of an entry this save builds on) is
 * not compressed at all: hashing the tar costs a fraction of compressing it.
 */
/**
 * Where a part's bytes are built: `tar` is scratch memory reused from part to part; `frame`
 * gives the stored frame its own memory, which leaves with the part (a worker is handed
 * back the memory of parts uploaded, so it need not fault in fresh pages for each one).
 */
export interface PartMemory {
  tar: TarMemory;
  frame: TarMemory;
}

export async function packPart(root: string, entries: readonly TreeEntry[], level: number, bufferLimit: number, memory?: PartMemory): Promise<PackedPart>;
export async function packPart(root: string, entries: readonly TreeEntry[], level: number, bufferLimit: number, memory: PartMemory | undefined, known: ReadonlySet<string> | undefined): Promise<PackedPart | KnownPart>;
export async function packPart(root: string, entries: readonly TreeEntry[], level: number, bufferLimit: number, memory?: PartMemory, known?: ReadonlySet<string>): Promise<PackedPart | KnownPart> {
  // bufferLimit applies to the streaming path only.
  const estimate = entries.reduce((sum, e) => sum + tarBytesOf(e), 0);
  if (estimate > IN_MEMORY_RAW_LIMIT) {
    // One big file: reading it once more to hash it costs far less than compressing it.
    if (known !== undefined && known.size > 0) {
      const rawDigest = rawDigestOf(root, entries);
      if (known.has(rawDigest)) return { known: { rawDigest, times: timesOf(entries) } };
    }
    return packPartStreaming(root, entries, level, bufferLimit);
  }
  const tar = tarBuffer(root, entries, memory?.tar);
  if (!worthCompressing(tar)) {
    // Stored: framing costs a copy, so the part is not recognised by its tar bytes
    // (no rawDigest) but by its digest, which depends on those bytes alone.
    const stored = storedFrame(tar, memory?.frame);
    return { ref: { digest: sha256Digest(stored), size: stored.length, rawSize: tar.length, entries: entries.length, times: timesOf(entries) }, bytes: [stored] };
  }
  const rawDigest = sha256Digest(tar);
  if (known?.has(rawDigest)) return { known: { rawDigest, times: timesOf(entries) } };
  const compressed = zstd().compress(tar, level);
  // Always kept: the raw size bounds it, and the streaming compressor would not
  // reproduce these exact bytes (another framing, another digest).
  return {
    ref: { digest: sha256Digest(compressed), size: compressed.length, rawSize: tar.length, entries: entries.length, times: timesOf(entries), rawDigest },
    bytes: [compressed],
  };
}

/** The sha256 of a part's tar bytes, streamed in chunks: for parts too big for memory. */
function rawDigestOf(root: string, entries: readonly TreeEntry[]): string {
  const hash = createHash('sha256');
  for (const chunk of tarChunks(root, entries)) hash.update(chunk);
  return finishDigest(hash);
}

/** The members' mtimes in whole seconds, as the manifest carries them beside the part. */
export function timesOf(entries: readonly TreeEntry[]): string {
  return encodeTimes(entries.map((e) => Math.floor(e.mtimeMs / 1000)));
}

export async function packPartStreaming(root: string, entries: readonly TreeEntry[], level: number, bufferLimit: number): Promise<PackedPart> {
  const hash = createHash('sha256');
  let chunks: Buffer[] | undefined = [];
  let size = 0;
  const counter = { rawBytes: 0, rawHash: createHash('sha256') };
  await pipeline(
    compressedPartStream(root, entries, level, counter),
    new Writable({
      write(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        size += chunk.length;
        if (chunks && size <= bufferLimit) chunks.push(chunk);
        else chunks = undefined;
        callback();
      },
    }),
  );
  return {
    ref: { digest: finishDigest(hash), size, rawSize: counter.rawBytes, entries: entries.length, times: timesOf(entries), rawDigest: finishDigest(counter.rawHash) },
    bytes: chunks,
  };
}

function* counted(chunks: Iterable<Buffer>, counter: RawCounter): Generator<Buffer> {
  for (const chunk of chunks) {
    counter.rawBytes += chunk.length;
    counter.rawHash?.update(chunk);
    yield chunk;
  }
}
