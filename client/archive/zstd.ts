import { Transform } from 'node:stream';
import * as zlib from 'node:zlib';

// zstd for parts. Node 22.15+ has it in node:zlib, which is what runs almost always. On
// Node 20 a portable codec stands in (zstd-portable.ts: libzstd 1.5.7 compiled to wasm
// for compression, fzstd for decompression): the same format, so either restores what
// the other saved. Its compressed bytes may differ from node:zlib's, which costs nothing
// across versions: a save recognises parts by their tar bytes (rawDigest).

// Output chunk size of the streaming codecs, which handle parts too big for memory.
// Node's default is 16 KiB, one JavaScript callback each: unzstd of a 140 MB part took
// 0.6 s of CPU with it and 0.2 s with 1 MiB chunks (measured here).
export const STREAM_CHUNK_BYTES = 1024 * 1024;

export interface ZstdCodec {
  readonly name: string;
  compress(data: Buffer, level: number): Buffer;
  /** Throws ZstdOutputTooLarge as soon as the output would pass maxOutput bytes. */
  decompress(data: Buffer, maxOutput: number): Buffer;
  /** One frame, however much goes through. */
  compressStream(level: number): Transform;
  decompressStream(): Transform;
}

export class ZstdOutputTooLarge extends Error {}

const hasNative = typeof (zlib as { zstdCompressSync?: unknown }).zstdCompressSync === 'function';

const native: ZstdCodec = {
  name: 'node:zlib',
  compress: (data, level) => (keptCompressor(level) ?? zstdCompressSync(level))(data),
  decompress(data, maxOutput) {
    try {
      // One output chunk of the most allowed: Node's default 16 KiB chunks cost ~40 % more
      // in copies; a larger output still stops at maxOutputLength.
      const size = Math.max(64, maxOutput);
      return zlib.zstdDecompressSync(data, { maxOutputLength: size, chunkSize: size });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') throw new ZstdOutputTooLarge('past the limit');
      throw err;
    }
  },
  compressStream: (level) => zlib.createZstdCompress({ chunkSize: STREAM_CHUNK_BYTES, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }),
  decompressStream: () => zlib.createZstdDecompress({ chunkSize: STREAM_CHUNK_BYTES }),
};

const zstdCompressSync = (level: number) => (data: Buffer) => zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });

// One zstd context per level, kept for this thread's parts. zstdCompressSync makes one per
// call (~0.7 MB at level 3, more for its buffers) that lives until a garbage collection
// finds its wrapper: a worker packing fifty parts held dozens at once (heaptrack, the
// 647-package node_modules: 68 MB of them at the save's peak), and each new one faults
// its pages in afresh. The kept one is driven as zstdCompressSync drives its own: one
// frame per part, 16 KiB of output room per call (Node's default chunk, so zstd takes the
// same path and writes the very same bytes; a test compares them), through node:zlib's
// handle (internal, hence the check: without it, zstdCompressSync as before).

/** Node's default output chunk: how zstdCompressSync calls zstd, which these calls copy. */
const NODE_CHUNK_BYTES = 16 * 1024;
interface ZstdHandle {
  writeSync(flush: number, input: Buffer, inputOffset: number, inputLength: number, output: Buffer, outputOffset: number, outputLength: number): void;
}
const kept = new Map<number, (data: Buffer) => Buffer>();
/** Where a part's frame is written before it is copied out to its own exact-size memory. */
let scratch = Buffer.allocUnsafe(0);

function keptCompressor(level: number): ((data: Buffer) => Buffer) | undefined {
  const known = kept.get(level);
  if (known) return known;
  const engine = zlib.createZstdCompress({ params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }) as unknown as { _handle?: ZstdHandle; _writeState?: unknown } & zlib.ZstdCompress;
  const handle = engine._handle;
  const state = engine._writeState;
  if (typeof handle?.writeSync !== 'function' || !(state instanceof Uint32Array) || state.length < 2) return undefined;
  engine.on('error', () => {}); // thrown below, where it happened
  const compress = (data: Buffer): Buffer => {
    // Room for the largest frame the input can make, and one more call's worth.
    const room = data.length + (data.length >>> 8) + (data.length < 128 * 1024 ? (128 * 1024 - data.length) >>> 11 : 0) + NODE_CHUNK_BYTES;
    if (scratch.length < room) scratch = Buffer.allocUnsafeSlow(room);
    let inputOffset = 0;
    let inputLength = data.length;
    let size = 0;
    for (;;) {
      handle.writeSync(zlib.constants.ZSTD_e_end, data, inputOffset, inputLength, scratch, size, NODE_CHUNK_BYTES);
      if (engine.destroyed) {
        kept.delete(level); // its handle failed (it destroys the stream at once): not used again
        throw engine.errored ?? new Error('zstd failed');
      }
      const [outputLeft = 0, inputLeft = 0] = state;
      size += NODE_CHUNK_BYTES - outputLeft;
      inputOffset += inputLength - inputLeft;
      inputLength = inputLeft;
      if (outputLeft > 0) break; // the frame is complete: zstd stopped with room to spare
    }
    const frame = Buffer.allocUnsafeSlow(size);
    scratch.copy(frame, 0, 0, size);
    return frame;
  };
  kept.set(level, compress);
  return compress;
}

let loaded: ZstdCodec | undefined = hasNative ? native : undefined;

/** The codec; on Node 20 only after loadZstd() (the wasm compiles asynchronously). */
export function zstd(): ZstdCodec {
  if (!loaded) throw new Error('zstd is not loaded yet: await loadZstd() first');
  return loaded;
}

export async function loadZstd(): Promise<ZstdCodec> {
  loaded ??= await (await import('./zstd-portable.ts')).loadPortableZstd();
  return loaded;
}
