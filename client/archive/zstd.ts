import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';
import { keptMemory } from '../spare-memory.ts';
import { MAX_PART_BYTES } from './parts.ts';

// zstd for parts. Node 22.15+ has it in node:zlib, which is what runs almost always. On
// Node 20 a portable codec stands in (zstd-portable.ts: libzstd 1.5.7 compiled to wasm,
// and fzstd for streams decoded): the same format, so either restores what
// the other saved. A part compresses to the same bytes with either (both compress it in
// one pass); a big file's stream may not, which costs nothing across versions: a save
// recognises parts by their tar bytes (rawDigest).

// Output chunk size of the streaming codecs, which handle parts too big for memory.
// Node's default is 16 KiB, one JavaScript callback each: unzstd of a 140 MB part took
// 0.6 s of CPU with it and 0.2 s with 1 MiB chunks (measured here).
export const STREAM_CHUNK_BYTES = 1024 * 1024;

export interface ZstdCodec {
  readonly name: string;
  /** One frame, in memory `memory` hands out if given (a codec may return memory of its own). */
  compress(data: Buffer, level: number, memory?: (size: number) => Buffer): Buffer;
  /**
   * Throws ZstdOutputTooLarge as soon as the output would pass maxOutput bytes. The
   * result may be memory the codec decodes the thread's next part into: done with it first.
   */
  decompress(data: Buffer, maxOutput: number): Buffer;
  /**
   * The same decoding, handed to `each` a piece at a time, in memory the thread keeps for
   * the next piece (or in one piece, where the codec cannot); returns how many bytes there were.
   */
  decompressInPieces(data: Buffer, maxOutput: number, each: (piece: Buffer) => void): number;
  /** Whether decompressInPieces holds one piece of memory however big the tar (else the whole tar) */
  readonly decodesInPieces: boolean;
  /** One frame, however much goes through. */
  compressStream(level: number): Transform;
  decompressStream(): Transform;
}

export class ZstdOutputTooLarge extends Error {}

/** decompressInPieces for a codec that decodes a part whole: the whole tar is the one piece. */
export function inOnePiece(decompress: (data: Buffer, maxOutput: number) => Buffer): ZstdCodec['decompressInPieces'] {
  return (data, maxOutput, each) => {
    const tar = decompress(data, maxOutput);
    each(tar);
    return tar.length;
  };
}

const hasNative = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

const native: ZstdCodec = {
  name: 'node:zlib',
  compress: (data, level, memory) => (keptCompressor(level) ?? zstdCompressSync(level))(data, memory),
  decompress: (data, maxOutput) => (keptDecompressor() ?? zstdDecompressSync)(data, maxOutput),
  decompressInPieces: (data, maxOutput, each) => (keptPieceDecoder() ?? inOnePiece(zstdDecompressSync))(data, maxOutput, each),
  get decodesInPieces() {
    return decodingContext() !== undefined;
  },
  compressStream: (level) => zlib.createZstdCompress({ chunkSize: STREAM_CHUNK_BYTES, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }),
  decompressStream: () => zlib.createZstdDecompress({ chunkSize: STREAM_CHUNK_BYTES }),
};

// One zstd context per level, kept for this thread's parts. zstdCompressSync makes one per
// call (~0.7 MB at level 3, more for its buffers) that lives until a garbage collection
// finds its wrapper: a worker packing fifty parts held dozens at once (heaptrack, the
// 647-package node_modules: 68 MB of them at the save's peak), and each new one faults
// its pages in afresh. It is driven through node:zlib's handle (internal, hence the check:
// without it, zstdCompressSync), and given room for the largest frame the part can make,
// so zstd compresses the part in one pass, straight from it into that room. Node's own
// 16 KiB of room a call made zstd copy the part through its window buffer instead: ~5 %
// more CPU, 0.6 % more bytes, and other bytes than libzstd's one-shot ZSTD_compress,
// which the portable codec (Node 20) uses: now both write the same frame (a test checks).

interface ZstdHandle {
  writeSync(flush: number, input: Buffer, inputOffset: number, inputLength: number, output: Buffer, outputOffset: number, outputLength: number): void;
  /** back to the start of a frame (ZSTD_reset_session_only) */
  reset(): void;
}
type ZstdStream = zlib.ZstdCompress | zlib.ZstdDecompress;

/** A node:zlib zstd stream's handle and the room/input it reports after each call; undefined where its internals are not these. */
function handleOf(engine: ZstdStream): { handle: ZstdHandle; state: Uint32Array } | undefined {
  const { _handle: handle, _writeState: state } = engine as unknown as { _handle?: ZstdHandle; _writeState?: unknown };
  if (typeof handle?.writeSync !== 'function' || typeof handle.reset !== 'function' || !(state instanceof Uint32Array) || state.length < 2) return undefined;
  engine.on('error', () => {}); // thrown by the call that failed (failed, the stream is destroyed at once)
  return { handle, state };
}

/** The error of a call that destroyed the stream, if it did. */
function failureOf(engine: ZstdStream): Error | undefined {
  return engine.destroyed ? (engine.errored ?? new Error('zstd failed')) : undefined;
}

/** Compresses one part into one frame, in memory of the frame's size `memory` gives. */
type Compress = (data: Buffer, memory?: (size: number) => Buffer) => Buffer;

const kept = new Map<number, Compress>();
/**
 * Where a part's frame is written before it is copied out to memory of its exact size: the
 * room one pass needs is the part's size and more, and a frame kept in it would hold (and
 * count against the collector's budget) several times its size. Made at the largest
 * part's room at once (keptMemory).
 */
const scratch = keptMemory(roomFor(MAX_PART_BYTES));

/** ZSTD_COMPRESSBOUND: the largest frame `size` bytes can make in one pass, and one more call's worth of room (zstd wants it to finish in one). */
function roomFor(size: number): number {
  return size + (size >>> 8) + (size < 128 * 1024 ? (128 * 1024 - size) >>> 11 : 0) + 16 * 1024;
}

/** One pass, one frame, wherever the context is: the fallback gives zstd the same room. */
const zstdCompressSync = (level: number) => (data: Buffer) => zlib.zstdCompressSync(data, { chunkSize: roomFor(data.length), params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });

function keptCompressor(level: number): Compress | undefined {
  const known = kept.get(level);
  if (known) return known;
  const engine = zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });
  const { handle, state } = handleOf(engine) ?? {};
  if (!handle || !state) return undefined;
  const compress = (data: Buffer, memory: (size: number) => Buffer = Buffer.allocUnsafeSlow): Buffer => {
    const room = roomFor(data.length);
    const out = scratch(room);
    handle.writeSync(zlib.constants.ZSTD_e_end, data, 0, data.length, out, 0, room);
    const failure = failureOf(engine);
    if (failure) {
      kept.delete(level); // not used again
      throw failure;
    }
    const [roomLeft = 0, inputLeft = 0] = state;
    // With room for the largest frame, zstd takes all the input and ends the frame with room to spare.
    if (inputLeft !== 0 || roomLeft === 0) throw new Error(`zstd left ${inputLeft} bytes of a part uncompressed`);
    const frame = memory(room - roomLeft);
    out.copy(frame, 0, 0, frame.length);
    return frame;
  };
  kept.set(level, compress);
  return compress;
}

// A part's tar is decoded by one kept context too, into memory this thread keeps for the
// next part: zstdDecompressSync made a context and a fresh output buffer per part, whose
// pages fault in anew (a .venv's 57 parts, one thread: 0.28 -> 0.21 CPU-s). The decoded
// tar is only good until the thread's next part is decoded: extraction is synchronous
// from decoding to the last write (client/archive/unpack.ts).

/** Output memory kept for the next part up to this (a packer's biggest part, and the byte that says a frame is too big); a bigger part's is its own. */
const KEPT_OUTPUT_BYTES = MAX_PART_BYTES + 1;
const output = keptMemory(KEPT_OUTPUT_BYTES);

/** Memory to decode a part of up to `room` bytes into: this thread's kept memory up to KEPT_OUTPUT_BYTES (either codec's), its own beyond. */
export function outputFor(room: number): Buffer {
  return room > KEPT_OUTPUT_BYTES ? Buffer.allocUnsafeSlow(room) : output(room);
}

function zstdDecompressSync(data: Buffer, maxOutput: number): Buffer {
  try {
    // One output chunk of the most allowed: Node's default 16 KiB chunks cost ~40 % more
    // in copies; a larger output still stops at maxOutputLength.
    const size = Math.max(64, maxOutput);
    return zlib.zstdDecompressSync(data, { maxOutputLength: size, chunkSize: size });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ZstdOutputTooLarge('past the limit');
    throw err;
  }
}

/** This thread's decoding context, made once; undefined where node:zlib's internals are not what this expects. */
let decoding: { engine: zlib.ZstdDecompress; handle: ZstdHandle; state: Uint32Array } | undefined;

function decodingContext(): typeof decoding {
  if (decoding) return decoding;
  const engine = zlib.createZstdDecompress();
  const { handle, state } = handleOf(engine) ?? {};
  decoding = handle && state ? { engine, handle, state } : undefined;
  return decoding;
}

/** A failed call leaves its context broken: the next part gets a new one. */
function dropContext(engine: zlib.ZstdDecompress): Error | undefined {
  const failure = failureOf(engine);
  if (failure) decoding = undefined;
  return failure;
}

function keptDecompressor(): ((data: Buffer, maxOutput: number) => Buffer) | undefined {
  const { engine, handle, state } = decodingContext() ?? {};
  if (!engine || !handle || !state) return undefined;
  return (data, maxOutput) => {
    // One byte of room past the most allowed: a frame that fills it is too large, and stops there.
    const room = maxOutput + 1;
    const into = outputFor(room);
    handle.reset(); // a frame cut short before leaves the context mid-frame
    handle.writeSync(zlib.constants.ZSTD_e_end, data, 0, data.length, into, 0, room);
    const failure = dropContext(engine);
    if (failure) throw failure;
    const [roomLeft = 0, inputLeft = 0] = state;
    if (roomLeft === 0) throw new ZstdOutputTooLarge('past the limit');
    if (inputLeft !== 0) throw new Error(`${inputLeft} bytes after the frame`);
    return into.subarray(0, room - roomLeft);
  };
}

// Decoded a piece at a time, a part's tar needs only a piece of memory, used again and
// again: decoded whole, each thread's output memory grew to its biggest part (16 MiB),
// every page of it fresh, and fresh pages cost here twice, once when zstd writes them and
// once when the kernel first reads them (the file writes).

/** The pieces a part's tar is decoded in (decompressInPieces). */
export const DECODE_PIECE_BYTES = 1024 * 1024;
const piece = keptMemory(DECODE_PIECE_BYTES);

function keptPieceDecoder(): ((data: Buffer, maxOutput: number, each: (piece: Buffer) => void) => number) | undefined {
  const { engine, handle, state } = decodingContext() ?? {};
  if (!engine || !handle || !state) return undefined;
  return (data, maxOutput, each) => {
    handle.reset(); // a frame cut short before leaves the context mid-frame
    const out = piece(DECODE_PIECE_BYTES);
    let total = 0;
    let at = 0;
    for (;;) {
      handle.writeSync(zlib.constants.ZSTD_e_end, data, at, data.length - at, out, 0, out.length);
      const failure = dropContext(engine);
      if (failure) throw failure;
      const [roomLeft = 0, inputLeft = 0] = state;
      const made = out.length - roomLeft;
      total += made;
      if (total > maxOutput) throw new ZstdOutputTooLarge('past the limit');
      if (made > 0) each(out.subarray(0, made));
      at = data.length - inputLeft;
      // Room left over: zstd has given all it can of this input, so the frame is done (or cut short, which the caller's size check finds).
      if (roomLeft > 0) {
        if (inputLeft !== 0) throw new Error(`${inputLeft} bytes after the frame`);
        return total;
      }
    }
  };
}

let loaded: ZstdCodec | undefined = hasNative ? native : undefined;

/** The codec; on Node 20 only after loadZstd() (the wasm compiles asynchronously). */
export function zstd(): ZstdCodec {
  if (!loaded) throw new Error('zstd is not loaded yet: await loadZstd() first');
  return loaded;
}

/**
 * Whether this thread's codec decodes a part a piece at a time: false until loaded, so a
 * thread that has not loaded it (the main thread on Node 20) answers as the portable
 * codec its workers load does.
 */
export function decodesInPieces(): boolean {
  return loaded?.decodesInPieces ?? false;
}

export async function loadZstd(): Promise<ZstdCodec> {
  loaded ??= await (await import('./zstd-portable.ts')).loadPortableZstd();
  return loaded;
}
