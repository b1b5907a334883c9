import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { sha256Digest, VerifyingStream } from '../../shared/wire/digest.ts';
import { LarderError } from '../../shared/errors.ts';
import { freeChunks } from '../../shared/own-memory.ts';
import type { PartRef } from '../../shared/wire/manifest.ts';
import { decodeTimes } from '../../shared/wire/times.ts';
import { unsafe } from './safe-path.ts';
import { type ExtractLimits, type ExtractResult, type Member, TarExtractor } from './tar-read.ts';
import { storedBlocks } from './stored.ts';
import { decodesInPieces, zstd, ZstdOutputTooLarge } from './zstd.ts';

// One part into a staging folder: verify sha256 → unzstd → write files, never past the
// raw size and member count its manifest declares. A part of up to 64 MiB compressed
// (every part but the rare big file's that compresses little) is held in memory and
// verified before anything is written (extractPartBuffer), then decoded and written a
// piece at a time. A bigger one streams (extractPart): its digest is only known at the
// end, so its files land in the staging folder first. The caller discards that folder on
// any failure, and the target is never touched.

/** The caps a part's own manifest entry sets on what it may contain. */
export function limitsOf(part: PartRef): ExtractLimits {
  return { maxEntries: part.entries, maxEntryBytes: part.rawSize };
}

/** An extractor bound to the part's caps and, for a version 2 part, the times beside it. */
function extractorFor(part: PartRef, root: string | undefined, listing?: boolean): TarExtractor {
  return new TarExtractor(root, limitsOf(part), part.times === undefined ? undefined : decodeTimes(part.times, part.entries), listing);
}

export async function extractPart(compressed: Readable, part: PartRef, root: string): Promise<ExtractResult> {
  const extractor = extractorFor(part, root);
  let rawBytes = 0;
  try {
    await pipeline(
      compressed,
      new VerifyingStream(part.digest, part.size, 'LARDER_INTEGRITY'),
      zstd().decompressStream(),
      new Writable({
        write(chunk: Buffer, _encoding, callback) {
          rawBytes += chunk.length;
          if (rawBytes > part.rawSize) return callback(wrongRawSize(part, rawBytes));
          try {
            extractor.write(chunk);
            callback();
          } catch (err) {
            callback(err as Error);
          }
        },
      }),
    );
    if (rawBytes !== part.rawSize) throw wrongRawSize(part, rawBytes);
    return extractor.end();
  } catch (err) {
    extractor.abort();
    throw err;
  }
}

/**
 * Parts up to this size compressed are read whole, verified, then extracted (the fast
 * path); anything bigger streams in 1 MiB chunks, so no entry, whatever it declares,
 * makes a thread hold more than this (and a piece of its tar, DECODE_PIECE_BYTES).
 */
export const IN_MEMORY_PART_LIMIT = 64 * 1024 * 1024;

/**
 * Whether a part takes the fast path. Its tar may be any size where the codec decodes it
 * a piece at a time: a 140 MB binary that compresses to 41 MB restored in 11 % less time
 * and CPU that way than streamed (npm-large). The portable codec (Node 20) decodes a part
 * whole, so there the tar must fit too.
 */
export function fitsInMemory(part: PartRef): boolean {
  return part.size <= IN_MEMORY_PART_LIMIT && (part.rawSize <= IN_MEMORY_PART_LIMIT || decodesInPieces());
}

/**
 * The fast path for a part held in memory: the digest is checked before a single byte
 * is written, and zstd may not produce more than the declared raw size (a bomb stops
 * inside the decompressor).
 */
export function extractPartBuffer(compressed: Buffer, part: PartRef, root: string | undefined, listing?: boolean): ExtractResult {
  if (compressed.length !== part.size || sha256Digest(compressed) !== part.digest) {
    throw new LarderError('LARDER_INTEGRITY', `part ${part.digest} arrived corrupted (${compressed.length} of ${part.size} bytes, or other bytes)`);
  }
  // A stored part (jars and the like) is its tar in raw blocks: written from views of the download.
  const blocks = storedBlocks(compressed, part.rawSize);
  const extractor = extractorFor(part, root, listing);
  try {
    if (blocks) for (const block of blocks) extractor.write(block);
    else decompressInto(compressed, part, (piece) => extractor.write(piece));
    return extractor.end();
  } catch (err) {
    extractor.abort();
    throw err;
  }
}

/**
 * A compressed part's tar, a piece at a time where the codec can (what it writes may be
 * in the staging folder before the frame turns out bad: the caller discards that folder,
 * as it does a streamed part's), never more than its declared raw size.
 */
function decompressInto(compressed: Buffer, part: PartRef, each: (piece: Buffer) => void): void {
  const codec = zstd();
  // What writing a piece throws (a bad tar, a full disk) is that, not bad zstd.
  let writing: { error: unknown } | undefined;
  const write = (piece: Buffer): void => {
    try {
      each(piece);
    } catch (error) {
      writing = { error };
      throw error;
    }
  };
  let length: number;
  try {
    length = codec.decompressInPieces(compressed, part.rawSize, write);
  } catch (err) {
    if (writing) throw writing.error;
    if (err instanceof ZstdOutputTooLarge) throw wrongRawSize(part, Number.POSITIVE_INFINITY);
    throw unsafe(`part ${part.digest} is not valid zstd: ${(err as Error).message}`);
  }
  if (length !== part.rawSize) throw wrongRawSize(part, length);
}

/** The members of a part held in memory, verified like an extraction, nothing written. */
export function listPartBuffer(compressed: Buffer, part: PartRef): Member[] {
  return extractPartBuffer(compressed, part, undefined).members ?? [];
}

/**
 * A part decodes to exactly its declared raw size: more is a bomb (stopped as soon as it
 * shows), less a truncated frame or frames left undecoded.
 */
function wrongRawSize(part: PartRef, bytes: number): LarderError {
  return unsafe(bytes > part.rawSize ? `part ${part.digest} expands past its declared ${part.rawSize} bytes` : `part ${part.digest} decompressed to ${bytes} bytes, but its manifest declares ${part.rawSize}`);
}

/**
 * Reads a download whole into one buffer of the part's size (an in-memory part: at most
 * IN_MEMORY_PART_LIMIT; `memory` gives it), refusing more bytes than the part has. From
 * 'data' events: an async iterator's promise per 64 KiB chunk cost a restore's workers
 * more CPU. A socket's chunks (socketChunks: a response's) are freed once copied.
 */
export function readPart(body: Readable, part: PartRef, memory: (size: number) => Buffer = Buffer.allocUnsafe, socketChunks = false): Promise<Buffer> {
  if (!fitsInMemory(part)) return Promise.reject(unsafe(`part ${part.digest} is too big to read into memory (${part.size} bytes)`));
  const out = memory(part.size);
  let length = 0;
  return new Promise((resolve, reject) => {
    body.on('data', (chunk: Buffer) => {
      if (length + chunk.length > part.size) {
        body.destroy();
        reject(new LarderError('LARDER_INTEGRITY', `part ${part.digest} is longer than its ${part.size} bytes`));
        return;
      }
      length += chunk.copy(out, length);
      if (socketChunks) freeChunks([chunk]); // copied: no one reads a socket's buffer again
    });
    body.once('end', () => resolve(out.subarray(0, length)));
    body.once('error', reject);
    body.once('close', () => reject(new Error('the download closed before it ended'))); // a no-op once it ended
  });
}
