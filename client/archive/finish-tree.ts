import { chmodSync, linkSync, lstatSync, lutimesSync, mkdirSync, symlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { unsafe } from './safe-path.ts';
import { type DirRecord, type ExtractResult, FOLDER_MODE, MADE_FOLDER_MODE } from './tar-read.ts';

// The last step of an extraction, once every part's files are written: hard links
// (to regular files the archive itself wrote), then symbolic links (never below another
// link, so nothing can be created through one), then folder modes and times, deepest
// first, so writing into a folder cannot disturb its time and a read-only folder is
// sealed only when full.

export function finishTree(root: string, results: readonly ExtractResult[]): void {
  finishLinks(root, results);
  finishFolders(root, results.flatMap((r) => r.dirs), true);
}

/** Hard links, then symbolic links: the first half of finishTree. */
export function finishLinks(root: string, results: readonly ExtractResult[]): void {
  const hardlinks = results.flatMap((r) => r.hardlinks);
  const symlinks = results.flatMap((r) => r.symlinks).sort((a, b) => (a.rel < b.rel ? -1 : 1));

  for (const { rel, target } of hardlinks) {
    const targetStat = lstatOrUndefined(join(root, target));
    if (!targetStat?.isFile()) throw unsafe(`hard link ${JSON.stringify(rel)} points to ${JSON.stringify(target)}, which is not a file in the archive`);
    makeParent(root, rel);
    create(rel, () => linkSync(join(root, target), join(root, rel)));
  }

  // Whether a name lies below a link is asked of the file system, not of the names: a
  // case-insensitive or normalising one (macOS, Windows) resolves `hooks/x` through a
  // link named `HOOKS`. Folders already seen to be real folders are not asked twice.
  const realFolders = new Set<string>(['']);
  for (const { rel, target, mtime } of symlinks) {
    // Top down, before anything is created: mkdir -p would follow a link.
    const parent = parentOf(rel);
    const folders = parent === '' ? [] : parent.split('/').map((_, i, all) => all.slice(0, i + 1).join('/'));
    for (const dir of folders) {
      if (realFolders.has(dir)) continue;
      const st = lstatOrUndefined(join(root, dir));
      if (!st) break; // from here down, makeParent creates real folders
      if (!st.isDirectory()) throw unsafe(`${JSON.stringify(rel)} lies below the symbolic link ${JSON.stringify(dir)}`);
      realFolders.add(dir);
    }
    makeParent(root, rel);
    for (const dir of folders) realFolders.add(dir);
    create(rel, () => symlinkSync(target, join(root, rel)));
    lutimesSync(join(root, rel), mtime, mtime);
  }
}

/**
 * Folder modes and times, deepest first: the second half of finishTree. `made`: every
 * folder was made by the extraction (MADE_FOLDER_MODE), so one of that mode, as nearly
 * every folder is, needs no chmod (a venv's 2,555 folders: 14 ms). A folder found in
 * place (a restore that patches its target) may have any mode.
 */
export function finishFolders(root: string, folders: readonly DirRecord[], made = false): void {
  // Each depth counted once: counted in the comparison, npm-large's 4,569 folders took 15-25 ms, now 2-4.
  const dirs = folders
    .map((dir) => ({ dir, depth: depth(dir.rel) }))
    .sort((a, b) => b.depth - a.depth)
    .map(({ dir }) => dir);
  for (const { rel, mode, mtime } of dirs) {
    if (!made || mode !== MADE_FOLDER_MODE) chmodSync(join(root, rel), mode);
    utimesSync(join(root, rel), mtime, mtime);
  }
}

function create(rel: string, make: () => void): void {
  try {
    make();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') throw unsafe(`${JSON.stringify(rel)} appears twice in the archive`);
    throw err;
  }
}

function makeParent(root: string, rel: string): void {
  const parent = parentOf(rel);
  if (parent === '') return;
  // No symbolic link exists yet above rel (checked by the caller or not created yet),
  // so a recursive mkdir cannot wander outside root.
  try {
    mkdirSync(join(root, parent), { recursive: true, mode: FOLDER_MODE });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') throw unsafe(`${JSON.stringify(parent)} is both a folder and a file in the archive`);
    throw err;
  }
}

function lstatOrUndefined(path: string): ReturnType<typeof lstatSync> | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

export function parentOf(rel: string): string {
  const slash = rel.lastIndexOf('/');
  return slash < 0 ? '' : rel.slice(0, slash);
}

function depth(rel: string): number {
  let n = 0;
  for (let at = rel.indexOf('/'); at >= 0; at = rel.indexOf('/', at + 1)) n++;
  return n;
}
