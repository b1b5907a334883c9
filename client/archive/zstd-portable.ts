import { Transform, type TransformCallback } from 'node:stream';
import { Zstd } from '@hpcc-js/wasm-zstd';
import { Decompress } from 'fzstd';
import { inOnePiece, outputFor, STREAM_CHUNK_BYTES, type ZstdCodec, ZstdOutputTooLarge } from './zstd.ts';

// zstd where node:zlib has none (Node 20): libzstd 1.5.7 compiled to wasm, from
// @hpcc-js/wasm-zstd (no native build, no install script, bundles into the client), and
// fzstd (pure JavaScript) for streams decoded, which hold a window as big as a frame asks.
// Single-threaded each, and slower than node:zlib: the benchmark measures by how much.
//
// The wrapper's own calls copy their output out of the wasm heap by spreading it into a
// JavaScript array, element by element (`new Uint8Array([...view])`): four fifths of the
// time a 4 MiB part took to compress (3 parts of a node_modules: 410 ms, against 90 with
// one memcpy out of the heap), and a 300 ms decode of one. So libzstd is called here
// through the wrapper's module and each result is copied out of its heap once. Its shape
// is checked once; without it, the wrapper's calls and fzstd serve, slowly.

/** The parts of the wrapper (1.12) used: its module's heap, malloc and free, and libzstd's calls. */
interface WasmInternals {
  _mainModule: { _module: { HEAPU8: Uint8Array }; malloc(size: number): WasmBlock; free(block: WasmBlock): void };
  _zstdClass: {
    compressBound(size: number): number;
    compress(dst: number, room: number, src: number, size: number, level: number): number;
    decompress(dst: number, room: number, src: number, size: number): number;
    isError(code: number): boolean;
    getErrorName(code: number): string;
    CStreamOutSize(): number;
  };
  _zstd: { compressChunk(dst: number, room: number, src: number, size: number): number; compressEnd(dst: number, room: number): number };
}
interface WasmBlock {
  ptr: number;
  size: number;
}

/** libzstd's calls, each result in memory of its own size (or `memory`'s). */
interface WasmCalls {
  compress(data: Uint8Array, level: number, memory?: (size: number) => Buffer): Uint8Array;
  compressChunk(data: Uint8Array): Uint8Array;
  compressEnd(): Uint8Array;
  /** A whole frame into at most `room` bytes; ZstdOutputTooLarge when it would not fit. */
  decompress?(data: Uint8Array, room: number, memory: (size: number) => Buffer): Buffer;
}

export function internalsOf(wasm: Zstd): WasmInternals | undefined {
  const w = wasm as unknown as Partial<WasmInternals>;
  const calls = [w._mainModule?.malloc, w._mainModule?.free, w._zstdClass?.compress, w._zstdClass?.decompress, w._zstdClass?.compressBound, w._zstdClass?.isError, w._zstd?.compressChunk, w._zstd?.compressEnd];
  const ok = w._mainModule?._module?.HEAPU8 instanceof Uint8Array && calls.every((call) => typeof call === 'function');
  return ok ? (w as WasmInternals) : undefined;
}

function wasmCalls(wasm: Zstd): WasmCalls {
  const internals = internalsOf(wasm);
  if (!internals) return { compress: (data, level) => wasm.compress(data, level), compressChunk: (data) => wasm.compressChunk(data), compressEnd: () => wasm.compressEnd() };
  const { _mainModule: heap, _zstdClass: lib, _zstd: stream } = internals;
  /** `size` bytes of heap, checked before anything is written there (malloc gives 0 when the heap cannot grow). */
  const taken = (size: number): WasmBlock => {
    const block = heap.malloc(size);
    if (block.ptr === 0) throw new Error(`zstd: no wasm memory for ${size} bytes`);
    return block;
  };
  /** The input copied into the heap, handed to `run`, and freed after it. */
  const withInput = <T>(data: Uint8Array, run: (input: WasmBlock) => T): T => {
    const input = taken(data.length);
    try {
      heap._module.HEAPU8.set(data, input.ptr);
      return run(input);
    } finally {
      heap.free(input);
    }
  };
  /** Runs `write` into `room` bytes of heap and copies what it wrote out, into `memory`. */
  const written = (room: number, write: (dst: number) => number, memory: (size: number) => Buffer = Buffer.allocUnsafe): Buffer => {
    const out = taken(room);
    try {
      const size = write(out.ptr);
      if (lib.isError(size)) throw new Error(`zstd: ${lib.getErrorName(size)}`);
      const result = memory(size);
      result.set(heap._module.HEAPU8.subarray(out.ptr, out.ptr + size)); // read after the call: the heap may have grown
      return result;
    } finally {
      heap.free(out);
    }
  };
  return {
    compress: (data, level, memory) =>
      withInput(data, (input) => {
        const room = lib.compressBound(data.length);
        return written(room, (dst) => lib.compress(dst, room, input.ptr, input.size, level), memory);
      }),
    compressChunk: (data) =>
      withInput(data, (input) => {
        const room = lib.compressBound(data.length) + lib.CStreamOutSize();
        return written(room, (dst) => stream.compressChunk(dst, room, input.ptr, input.size));
      }),
    compressEnd() {
      const room = lib.CStreamOutSize();
      return written(room, (dst) => stream.compressEnd(dst, room));
    },
    // One-shot: decoded straight into `room` (no window buffer), which it cannot pass.
    decompress: (data, room, memory) =>
      withInput(data, (input) =>
        written(
          room,
          (dst) => {
            const size = lib.decompress(dst, room, input.ptr, input.size);
            if (lib.isError(size) && lib.getErrorName(size) === 'Destination buffer is too small') throw new ZstdOutputTooLarge('past the limit');
            return size;
          },
          memory,
        ),
      ),
  };
}

// Node's own decoder refuses windows over 2^27 (ZSTD_WINDOWLOG_LIMIT_DEFAULT); fzstd would
// allocate whatever a frame header declares, so it is held to the same.
const MAX_WINDOW = 2 ** 27;

export async function loadPortableZstd(): Promise<ZstdCodec> {
  const wasm = await Zstd.load();
  const calls = wasmCalls(wasm);
  // The wasm module has one streaming context: streams take turns.
  let turn: Promise<void> = Promise.resolve();
  const decompress = (data: Buffer, maxOutput: number): Buffer => {
    if (!calls.decompress) return decompressedByFzstd(data, maxOutput);
    const window = frameWindow(data);
    if (window !== undefined && window > MAX_WINDOW) refuse(window); // as node:zlib would (fzstd's decoder checks its own)
    // One byte of room past the most allowed: a frame that fills it is too large. The
    // part goes into memory kept for the thread's next one, as node:zlib's does.
    const room = maxOutput + 1;
    const tar = calls.decompress(data, room, (size) => outputFor(room).subarray(0, size));
    if (tar.length === room) throw new ZstdOutputTooLarge('past the limit');
    return tar;
  };
  return {
    name: `wasm libzstd ${wasm.version()} + fzstd`,
    compress: (data, level, memory) => toBuffer(calls.compress(data, level, memory)),
    decompress,
    decompressInPieces: inOnePiece(decompress),
    decodesInPieces: false,
    compressStream(level) {
      let release: (() => void) | undefined;
      const acquire = async (): Promise<void> => {
        const previous = turn;
        turn = new Promise((resolve) => (release = resolve));
        await previous;
        wasm.reset();
        wasm.setCompressionLevel(level);
      };
      let started: Promise<void> | undefined;
      return new Transform({
        highWaterMark: STREAM_CHUNK_BYTES,
        transform(chunk: Buffer, _encoding, callback: TransformCallback) {
          (started ??= acquire()).then(() => callback(null, toBuffer(calls.compressChunk(chunk))), callback);
        },
        flush(callback: TransformCallback) {
          (started ??= acquire()).then(() => callback(null, toBuffer(calls.compressEnd())), callback);
        },
        destroy(err, callback) {
          // Only once its own turn came: a stream destroyed while waiting passes it on when it comes.
          (started ?? Promise.resolve()).finally(() => release?.());
          callback(err);
        },
      }).once('end', () => release?.());
    },
    decompressStream() {
      let out: Buffer[] = [];
      const decoder = guardedDecoder((chunk) => out.push(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.length)));
      const drain = (callback: TransformCallback, push: (b: Buffer) => void) => {
        for (const chunk of out) push(chunk);
        out = [];
        callback();
      };
      return new Transform({
        transform(chunk: Buffer, _encoding, callback) {
          try {
            decoder.push(chunk);
          } catch (err) {
            return callback(err as Error);
          }
          drain(callback, (b) => this.push(b));
        },
        flush(callback) {
          try {
            decoder.push(new Uint8Array(0), true);
          } catch (err) {
            return callback(err as Error);
          }
          drain(callback, (b) => this.push(b));
        },
      });
    },
  };
}

function refuse(window: number): never {
  throw new Error(`a zstd frame needs a ${window}-byte window, over the ${MAX_WINDOW} allowed`);
}

/** The bytes as a Buffer, without a copy when they are one already. */
function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** Without the wrapper's internals: fzstd, whole. */
function decompressedByFzstd(data: Uint8Array, maxOutput: number): Buffer {
  const chunks: Uint8Array[] = [];
  let length = 0;
  const decoder = guardedDecoder((chunk) => {
    length += chunk.length;
    if (length > maxOutput) throw new ZstdOutputTooLarge('past the limit');
    chunks.push(chunk);
  });
  decoder.push(data, true);
  return Buffer.concat(chunks, length);
}

/** An fzstd decoder that refuses a frame whose window is over MAX_WINDOW, before fzstd allocates it. */
function guardedDecoder(ondata: (chunk: Uint8Array) => void): { push(chunk: Uint8Array, final?: boolean): void } {
  const decoder = new Decompress((chunk) => ondata(chunk));
  // The first frame's header is read here, before fzstd sees it. fzstd keeps the frame
  // it is in as `s` (window size `e`): checked after every push, for any later frame.
  const state = decoder as unknown as { s?: { e?: number } | number };
  let head: Uint8Array | undefined = new Uint8Array(0);
  return {
    push(chunk, final = false) {
      if (head) {
        // Enough bytes for the window: magic (4), descriptor (1), window or size (up to 8).
        head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
        if (head.length < 14 && !final) return;
        const window = frameWindow(head);
        if (window !== undefined && window > MAX_WINDOW) refuse(window);
        chunk = head;
        head = undefined;
      }
      decoder.push(chunk, final);
      const current = typeof state.s === 'object' ? state.s.e : undefined;
      if (current !== undefined && current > MAX_WINDOW) refuse(current);
    },
  };
}

/** The window a zstd frame header asks for (its content size when single-segment); undefined when it is not one. */
function frameWindow(bytes: Uint8Array): number | undefined {
  if (bytes.length < 6 || bytes[0] !== 0x28 || bytes[1] !== 0xb5 || bytes[2] !== 0x2f || bytes[3] !== 0xfd) return undefined;
  const descriptor = bytes[4] as number;
  const singleSegment = (descriptor >> 5) & 1;
  if (!singleSegment) {
    const wd = bytes[5] as number;
    const base = 2 ** (10 + (wd >> 3));
    return base + (base / 8) * (wd & 7);
  }
  const sizeBytes = [1, 2, 4, 8][descriptor >> 6] as number;
  const at = 5 + [0, 1, 2, 4][descriptor & 3]!;
  let size = 0;
  for (let i = sizeBytes - 1; i >= 0; i--) size = size * 256 + (bytes[at + i] ?? 0);
  return sizeBytes === 2 ? size + 256 : size;
}
