import { lstatSync, readdirSync, readlinkSync, type Stats } from 'node:fs';
import { join } from 'node:path';

// Walks a folder in a stable order (byte order of names, parents before children) with
// synchronous calls: on many small files they are several times cheaper than promises.

export type TreeEntryType = 'file' | 'dir' | 'symlink' | 'hardlink';

export interface TreeEntry {
  /** POSIX path relative to the walked root */
  rel: string;
  type: TreeEntryType;
  mode: number;
  mtimeMs: number;
  /** content bytes (regular files only; 0 otherwise) */
  size: number;
  /** symlink: its target as stored; hardlink: the rel path of the first name of the inode */
  link?: string;
}

export interface Tree {
  entries: TreeEntry[];
  /** sockets, FIFOs and devices, which a cache has no business carrying */
  skipped: string[];
}

export function walkTree(root: string): Tree {
  const skipped: string[] = [];
  const entries = [...walkEntries(root, skipped)];
  return { entries, skipped };
}

/** The same walk as a generator, so work on the first entries can start before the last are found. */
export function* walkEntries(root: string, skipped: string[] = []): Generator<TreeEntry> {
  const firstNameOfInode = new Map<string, string>();
  function* visit(dir: string, relDir: string): Generator<TreeEntry> {
    const names = readdirSync(dir).sort(byteOrder);
    for (const name of names) {
      const abs = join(dir, name);
      const rel = relDir === '' ? name : `${relDir}/${name}`;
      const st = lstatSync(abs);
      const base = { rel, mode: st.mode & 0o7777, mtimeMs: st.mtimeMs, size: 0 };
      if (st.isDirectory()) {
        yield { ...base, type: 'dir' };
        yield* visit(abs, rel);
      } else if (st.isSymbolicLink()) {
        yield { ...base, type: 'symlink', link: readlinkSync(abs) };
      } else if (st.isFile()) {
        const first = st.nlink > 1 ? rememberInode(firstNameOfInode, st, rel) : undefined;
        yield first ? { ...base, type: 'hardlink', link: first } : { ...base, type: 'file', size: st.size };
      } else {
        skipped.push(rel);
      }
    }
  }
  yield* visit(root, '');
}

/** Returns the first name seen for this inode, or records rel as its first name. */
function rememberInode(seen: Map<string, string>, st: Stats, rel: string): string | undefined {
  const inode = `${st.dev}:${st.ino}`;
  const first = seen.get(inode);
  if (first === undefined) seen.set(inode, rel);
  return first;
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
