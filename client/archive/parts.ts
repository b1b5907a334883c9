import type { TreeEntry } from './tree.ts';

// Cuts a walked tree into parts at file boundaries. A part closes once it holds
// MIN_PART_BYTES and then at an entry whose path hash falls under a threshold that
// grows with the entry's size, so parts average ~4 MiB whatever the file sizes, and a
// boundary depends on its own path only: adding or removing a package moves the
// boundaries next to it, not every boundary after it, and the other parts dedupe.
// ~4 MiB rather than ~8: a lockfile change touches the tree in several places (each new
// dependency sorts somewhere else), and each touched part is uploaded whole. Between two
// fresh installs of the bench's variant lockfile, parts of ~8 MiB changed 89 MB of 607;
// parts of ~4 MiB change 64 MB, and small trees get enough parts for every core.

export const MIN_PART_BYTES = 2 * 1024 * 1024;
export const MAX_PART_BYTES = 16 * 1024 * 1024;
const MEAN_EXTRA_BYTES = 2 * 1024 * 1024;
const BLOCK = 512;

export function tarBytesOf(entry: TreeEntry): number {
  // header, content rounded up to whole blocks; long or unicode names add a pax header,
  // which only nudges the estimate
  return BLOCK + Math.ceil(entry.size / BLOCK) * BLOCK;
}

export function planParts(entries: Iterable<TreeEntry>): TreeEntry[][] {
  return [...streamParts(entries)];
}

/** Yields each part as soon as it closes. */
export function* streamParts(entries: Iterable<TreeEntry>): Generator<TreeEntry[]> {
  let current: TreeEntry[] = [];
  let bytes = 0;
  for (const entry of entries) {
    const size = tarBytesOf(entry);
    if (current.length > 0 && bytes + size > MAX_PART_BYTES) {
      yield current;
      current = [];
      bytes = 0;
    }
    current.push(entry);
    bytes += size;
    if (bytes >= MIN_PART_BYTES && isBoundary(entry.rel, size)) {
      yield current;
      current = [];
      bytes = 0;
    }
  }
  if (current.length > 0) yield current;
}

function isBoundary(rel: string, size: number): boolean {
  return fnv1a(rel) / 0x1_0000_0000 < size / MEAN_EXTRA_BYTES;
}

/** 32-bit FNV-1a: a cheap, stable spread of path names (not a content address). */
function fnv1a(text: string): number {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193) >>> 0;
  }
  return hash;
}
