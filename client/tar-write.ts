import { closeSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Header, type HeaderData } from 'tar/header';
import { Pax } from 'tar/pax';
import { LarderError } from '../shared/errors.ts';
import type { TreeEntry } from './tree.ts';

// Encodes a part's entries as one complete tar (pax where names or sizes need it),
// reading file content with synchronous calls: into one buffer (tarBuffer) or as ~1 MiB
// chunks for a part too big for memory (tarChunks). Owners are
// written as 0 and times in whole seconds, so the same files give the same bytes on
// every machine and unchanged parts dedupe.

const BLOCK = 512;
const CHUNK_BYTES = 1024 * 1024;
const TYPE_OF = { file: 'File', dir: 'Directory', symlink: 'SymbolicLink', hardlink: 'Link' } as const;

export function* tarChunks(root: string, entries: readonly TreeEntry[]): Generator<Buffer> {
  let pending: Buffer[] = [];
  let pendingBytes = 0;
  const push = (buf: Buffer): Buffer[] | undefined => {
    pending.push(buf);
    pendingBytes += buf.length;
    if (pendingBytes < CHUNK_BYTES) return undefined;
    const out = pending;
    pending = [];
    pendingBytes = 0;
    return out;
  };
  for (const entry of entries) {
    for (const block of headerBlocks(entry)) {
      const full = push(block);
      if (full) yield Buffer.concat(full);
    }
    if (entry.type !== 'file' || entry.size === 0) continue;
    for (const content of fileContent(join(root, entry.rel), entry)) {
      const full = push(content);
      if (full) yield Buffer.concat(full);
    }
  }
  pending.push(Buffer.alloc(2 * BLOCK));
  yield Buffer.concat(pending);
}

/**
 * The whole tar of a part in one buffer, with headers encoded and file contents read
 * straight into place: no intermediate chunks, no copies. For parts that fit in memory.
 */
export function tarBuffer(root: string, entries: readonly TreeEntry[]): Buffer {
  // Headers first: their exact sizes (pax or not) size the buffer exactly.
  const headers = entries.map(headerBlocks);
  let capacity = 2 * BLOCK;
  entries.forEach((entry, i) => {
    for (const block of headers[i] ?? []) capacity += block.length;
    if (entry.type === 'file') capacity += Math.ceil(entry.size / BLOCK) * BLOCK;
  });
  const out = Buffer.alloc(capacity);
  let off = 0;
  entries.forEach((entry, i) => {
    for (const block of headers[i] ?? []) off += block.copy(out, off);
    if (entry.type !== 'file' || entry.size === 0) return;
    const fd = openSync(join(root, entry.rel), 'r');
    try {
      readExactly(fd, out, off, entry.size, entry.rel);
    } finally {
      closeSync(fd);
    }
    off += Math.ceil(entry.size / BLOCK) * BLOCK;
  });
  return out;
}

export function headerBlocks(entry: TreeEntry): Buffer[] {
  const data: HeaderData = {
    path: entry.type === 'dir' ? `${entry.rel}/` : entry.rel,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    size: entry.type === 'file' ? entry.size : 0,
    mtime: new Date(Math.floor(entry.mtimeMs / 1000) * 1000),
    type: TYPE_OF[entry.type],
    linkpath: entry.link,
    uname: '',
    gname: '',
  };
  const header = new Header(data);
  const block = Buffer.alloc(BLOCK);
  const needPax = header.encode(block, 0);
  if (!needPax) return [block];
  // Times stay whole seconds in the pax record too, for stable bytes.
  const pax = new Pax({ path: data.path, linkpath: data.linkpath, size: data.size }).encode();
  return [pax, block];
}

/** The file's bytes padded to whole blocks; fails if the file changed size meanwhile. */
function* fileContent(abs: string, entry: TreeEntry): Generator<Buffer> {
  const fd = openSync(abs, 'r');
  try {
    let left = entry.size;
    while (left > 0) {
      const want = Math.min(left, CHUNK_BYTES);
      const padded = Buffer.alloc(Math.ceil(want / BLOCK) * BLOCK);
      readExactly(fd, padded, 0, want, entry.rel);
      left -= want;
      yield padded;
    }
  } finally {
    closeSync(fd);
  }
}

/** Reads exactly length bytes from the file's current position into buf at off. */
function readExactly(fd: number, buf: Buffer, off: number, length: number, rel: string): void {
  for (let got = 0; got < length; ) {
    const n = readSync(fd, buf, off + got, length - got, null);
    if (n === 0) throw new LarderError('LARDER_PATH_NOT_FOUND', `${rel} shrank while it was being saved`);
    got += n;
  }
}
