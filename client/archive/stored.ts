import { zstd } from './zstd.ts';

// Parts of already-compressed files (jars, wheels, zips, gzip, images) are stored, not
// compressed: zstd would spend as much CPU on them as on any other bytes to shrink them
// by a few percent. A stored part is still a standard zstd frame (RFC 8878), made of raw
// blocks, so every restore, GNU tar piped through `zstd -d` included, reads it as it reads
// any other part.

/**
 * A part is stored when a sample of it compresses to more than this share of its size.
 * On a Maven repository of 510 real jars (48 parts), 0.85 stores 32 parts, which saves
 * 70 % of zstd's CPU for 9 % more bytes (0.9: 13 parts, 31 %, 3 %); a save took ~10 %
 * less time. No part of node_modules or a .venv comes near it.
 */
export const STORED_ABOVE = 0.85;

const MAGIC = [0x28, 0xb5, 0x2f, 0xfd];
// Frame header descriptor: a 4-byte content size, not a single segment (a window is given).
const DESCRIPTOR = 0x80;
// Window descriptor: 2^(10 + 7) = 128 KiB. Raw blocks refer to nothing before them, so a
// decoder needs no more window than one block.
const WINDOW = 7 << 3;
const BLOCK_MAX = 128 * 1024;
const HEADER_BYTES = MAGIC.length + 2 + 4;
const SAMPLE_WINDOWS = 32;
const SAMPLE_WINDOW_BYTES = 4096;

/** The size of the stored frame of `size` bytes. */
export function storedSize(size: number): number {
  return HEADER_BYTES + 3 * Math.max(1, Math.ceil(size / BLOCK_MAX)) + size;
}

/** `data` as one zstd frame of raw blocks, in new memory: a frame header, then 3 bytes per 128 KiB. */
export function storedFrame(data: Buffer): Buffer {
  return Buffer.concat(storedPieces(data, Buffer.allocUnsafeSlow(headersSize(data.length))));
}

/**
 * `tar`'s stored frame as pieces, in order, without moving it: the frame header and each
 * block's 3-byte header are written in the memory right after the tar, which must be the
 * caller's alone up to storedSize(tar.length) (or in `headers`, if given), and each block
 * is a view of the tar where it lies. Their bytes in a row are storedFrame's. A part of
 * jars then leaves as the memory its tar was read into; moving the tar up in it to make
 * room for the headers between its blocks copied every byte once more (a Maven
 * repository's save: 1.53 → 1.415 s, 10 alternating runs).
 */
export function storedPieces(tar: Buffer, headers?: Buffer): Buffer[] {
  const size = tar.length;
  const room = headers ?? roomAfter(tar);
  frameHeader(room, size);
  const blocks = Math.max(1, Math.ceil(size / BLOCK_MAX));
  const pieces: Buffer[] = [];
  for (let k = 0; k < blocks; k++) {
    const at = k * BLOCK_MAX;
    const end = Math.min(at + BLOCK_MAX, size);
    const header = HEADER_BYTES + 3 * k;
    blockHeader(room, header, end - at, k === blocks - 1);
    // The first block's header goes out with the frame header, as one piece.
    pieces.push(room.subarray(k === 0 ? 0 : header, header + 3), tar.subarray(at, end));
  }
  return pieces;
}

/**
 * The stored frame of a tar of `size` bytes made as the tar comes, in chunks of whole
 * blocks (but the last): for each chunk, its pieces in order, the frame's header ahead of
 * the first. Their bytes in a row are storedFrame's; the chunks are viewed, not copied.
 * A save sends a stored part this way, its tar read again from the files into a few
 * reused chunks (client/archive/reread.ts), rather than holding it in memory until the
 * upload: memory not used before costs ~24 µs a page here (bench/fresh-memory.ts).
 */
export function* storedFrameOf(chunks: Iterable<Buffer>, size: number): Generator<Buffer[]> {
  const blocks = Math.max(1, Math.ceil(size / BLOCK_MAX));
  let block = 0;
  let at = 0;
  const piecesOf = (chunk: Buffer): Buffer[] => {
    const count = Math.max(1, Math.ceil(chunk.length / BLOCK_MAX));
    const first = block === 0 ? HEADER_BYTES : 0;
    const headers = Buffer.allocUnsafe(first + 3 * count);
    if (first) frameHeader(headers, size);
    const pieces: Buffer[] = [];
    for (let i = 0; i < count; i++, block++) {
      const view = chunk.subarray(i * BLOCK_MAX, (i + 1) * BLOCK_MAX);
      const header = first + 3 * i;
      blockHeader(headers, header, view.length, block === blocks - 1);
      pieces.push(headers.subarray(i === 0 ? 0 : header, header + 3), view);
    }
    at += chunk.length;
    return pieces;
  };
  for (const chunk of chunks) {
    if (chunk.length === 0) continue;
    // Every chunk but the last holds whole blocks, so each block lies within one chunk.
    if (at + chunk.length > size || (at + chunk.length < size && chunk.length % BLOCK_MAX !== 0)) throw new RangeError(`a chunk of ${chunk.length} bytes at ${at} does not fit a stored frame of ${size} bytes`);
    yield piecesOf(chunk);
  }
  if (size === 0) yield piecesOf(Buffer.alloc(0));
  if (at !== size || block !== blocks) throw new RangeError(`a stored frame of ${size} bytes got ${at}`);
}

/** A stored frame's header (RFC 8878): magic, descriptor, window, content size. */
function frameHeader(into: Buffer, size: number): void {
  if (size > 0xffffffff) throw new RangeError('a stored frame holds at most 4 GiB');
  into.set(MAGIC, 0);
  into[4] = DESCRIPTOR;
  into[5] = WINDOW;
  into.writeUInt32LE(size, 6);
}

/** A raw block's 3-byte header: its size, and whether it ends the frame. */
function blockHeader(into: Buffer, at: number, bytes: number, last: boolean): void {
  into.writeUIntLE((bytes << 3) | (last ? 1 : 0), at, 3);
}

/** The bytes a stored frame of `size` bytes adds: its header and the blocks' headers. */
function headersSize(size: number): number {
  return storedSize(size) - size;
}

/** The memory after `tar` that holds its frame's headers (storedPieces). */
function roomAfter(tar: Buffer): Buffer {
  const bytes = headersSize(tar.length);
  if (tar.byteOffset + tar.length + bytes > tar.buffer.byteLength) throw new RangeError('no room after the tar for its frame');
  return Buffer.from(tar.buffer, tar.byteOffset + tar.length, bytes);
}

/**
 * The payloads of a stored frame as storedFrame writes it, as views of `frame` (no copy,
 * no decoder): one frame declaring `size` bytes of content, raw blocks only, the last
 * one flagged and ending the buffer. Anything else (a compressed part, other framing, a
 * lie) is undefined, and the caller decodes it with zstd, which checks it as ever.
 */
export function storedBlocks(frame: Buffer, size: number): Buffer[] | undefined {
  if (frame.length !== storedSize(size)) return undefined;
  for (let i = 0; i < MAGIC.length; i++) if (frame[i] !== MAGIC[i]) return undefined;
  if (frame[4] !== DESCRIPTOR || frame[5] !== WINDOW || frame.readUInt32LE(6) !== size) return undefined;
  const blocks: Buffer[] = [];
  let off = HEADER_BYTES;
  let at = 0;
  for (;;) {
    const header = frame.readUIntLE(off, 3);
    const blockSize = header >>> 3;
    const last = (header & 1) === 1;
    // A raw block (type 0) of the size storedFrame gives it: whole blocks, then the rest.
    if ((header & 6) !== 0 || blockSize !== Math.min(BLOCK_MAX, size - at)) return undefined;
    off += 3;
    blocks.push(frame.subarray(off, off + blockSize));
    off += blockSize;
    at += blockSize;
    if (last) return at === size && off === frame.length ? blocks : undefined;
    if (at >= size) return undefined;
  }
}

/**
 * Whether compressing `data` is worth its CPU: zstd's fastest level on a sample of
 * evenly spaced windows (128 KiB in all) must shrink it below STORED_ABOVE. The
 * answer depends on the bytes alone, so the same tar is stored or compressed every time.
 */
export function worthCompressing(data: Buffer): boolean {
  if (data.length <= SAMPLE_WINDOWS * SAMPLE_WINDOW_BYTES) return true; // small: compression costs next to nothing
  const sample = Buffer.allocUnsafe(SAMPLE_WINDOWS * SAMPLE_WINDOW_BYTES);
  const stride = Math.floor((data.length - SAMPLE_WINDOW_BYTES) / (SAMPLE_WINDOWS - 1));
  for (let i = 0; i < SAMPLE_WINDOWS; i++) data.copy(sample, i * SAMPLE_WINDOW_BYTES, i * stride, i * stride + SAMPLE_WINDOW_BYTES);
  return zstd().compress(sample, 1).length < sample.length * STORED_ABOVE;
}
