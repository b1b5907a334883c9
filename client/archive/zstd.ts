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
  compress: (data, level) => zlib.zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } }),
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
