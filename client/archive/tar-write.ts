import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { LarderError } from '../../shared/errors.ts';
import { BLOCK, fitsShortHeader, headerBlocks, writeShortHeader } from './tar-header.ts';
import { readable, type TreeEntry } from './tree.ts';

// Encodes a part's entries as one complete tar (headers from tar-header.ts), reading file
// content with synchronous calls: into one buffer (tarBuffer) or in 1 MiB chunks for a
// part too big for memory (tarChunks).

export const CHUNK_BYTES = 1024 * 1024;

/**
 * The tar in chunks of CHUNK_BYTES (the last one shorter), each taken from `memory` and
 * filled in place: headers copied in, file contents read straight into it. A chunk's
 * memory may come back for the chunk after next, so the caller must be done with a chunk
 * before it resumes this generator a second time (packPartStreaming waits for zstd to
 * consume it). Fresh 1 MiB buffers, twice over (read, then joined), were ~280 MB of
 * garbage for the 140 MB binary of next.js.
 */
export function* tarChunks(root: string, entries: readonly TreeEntry[], memory: () => Buffer = () => Buffer.allocUnsafe(CHUNK_BYTES)): Generator<Buffer> {
  let chunk = memory();
  let at = 0;
  // Copies bytes in (or zeros, for `data` a count), yielding each chunk as it fills.
  function* put(data: Buffer | number): Generator<Buffer> {
    const length = typeof data === 'number' ? data : data.length;
    for (let off = 0; off < length; ) {
      const n = Math.min(length - off, chunk.length - at);
      if (typeof data === 'number') chunk.fill(0, at, at + n);
      else data.copy(chunk, at, off, off + n);
      at += n;
      off += n;
      if (at === chunk.length) {
        yield chunk;
        chunk = memory();
        at = 0;
      }
    }
  }
  for (const entry of entries) {
    for (const block of headerBlocks(entry)) yield* put(block);
    if (entry.type !== 'file' || entry.size === 0) continue;
    const fd = readable(entry.rel, () => openSync(join(root, entry.rel), 'r'));
    try {
      for (let left = entry.size; left > 0; ) {
        const n = Math.min(left, chunk.length - at);
        readExactly(fd, chunk, at, n, entry.rel);
        at += n;
        left -= n;
        if (left === 0) unchanged(fd, entry); // before its last bytes leave
        if (at === chunk.length) {
          yield chunk;
          chunk = memory();
          at = 0;
        }
      }
    } finally {
      closeSync(fd);
    }
    yield* put((BLOCK - (entry.size % BLOCK)) % BLOCK);
  }
  yield* put(2 * BLOCK);
  if (at > 0) yield chunk.subarray(0, at);
}

/** Hands out buffers for tarBuffer. Memory may hold old bytes: tarBuffer zeroes what it must. */
export type TarMemory = (size: number) => Buffer;

/**
 * The whole tar of a part in one buffer, with headers encoded and file contents read
 * straight into place: no intermediate chunks, no copies. For parts that fit in memory.
 * With reused memory the result is only valid until the next call.
 */
export function tarBuffer(root: string, entries: readonly TreeEntry[], memory: TarMemory = Buffer.alloc): Buffer {
  // Pax records come first where a name needs them; their sizes vary, so those headers
  // are encoded before the buffer is sized. Every other header is written in place.
  const paxHeaders = new Map<number, Buffer[]>();
  let capacity = 2 * BLOCK;
  entries.forEach((entry, i) => {
    if (fitsShortHeader(entry)) capacity += BLOCK;
    else {
      const blocks = headerBlocks(entry);
      paxHeaders.set(i, blocks);
      for (const block of blocks) capacity += block.length;
    }
    if (entry.type === 'file') capacity += Math.ceil(entry.size / BLOCK) * BLOCK;
  });
  const out = memory(capacity);
  let off = 0;
  entries.forEach((entry, i) => {
    const blocks = paxHeaders.get(i);
    if (blocks) for (const block of blocks) off += block.copy(out, off);
    else {
      writeShortHeader(out, off, entry);
      off += BLOCK;
    }
    if (entry.type !== 'file' || entry.size === 0) return;
    const fd = readable(entry.rel, () => openSync(join(root, entry.rel), 'r'));
    try {
      readExactly(fd, out, off, entry.size, entry.rel);
      unchanged(fd, entry);
    } finally {
      closeSync(fd);
    }
    const padded = Math.ceil(entry.size / BLOCK) * BLOCK;
    out.fill(0, off + entry.size, off + padded);
    off += padded;
  });
  out.fill(0, off); // the two zero blocks that end a tar
  return out;
}

/**
 * A file whose size or time differs, once read, from what the walk saw is being written
 * as we read it (a build step still running): its bytes may be torn, so the save fails,
 * as GNU tar's "file changed as we read it" does.
 */
function unchanged(fd: number, entry: TreeEntry): void {
  const now = fstatSync(fd);
  if (now.size !== entry.size || now.mtimeMs !== entry.mtimeMs) {
    throw new LarderError('LARDER_PATH_CHANGED', `${entry.rel} changed while it was being saved (${now.size !== entry.size ? `${entry.size} → ${now.size} bytes` : 'rewritten'}); save after the step that writes it has finished`);
  }
}

/** Reads exactly length bytes from the file's current position into buf at off. */
function readExactly(fd: number, buf: Buffer, off: number, length: number, rel: string): void {
  for (let got = 0; got < length; ) {
    const n = readable(rel, () => readSync(fd, buf, off + got, length - got, null));
    if (n === 0) throw new LarderError('LARDER_PATH_UNREADABLE', `${rel} shrank while it was being saved`);
    got += n;
  }
}
