import { createHash } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// What larder knows a folder holds: the entry a restore wrote into it, or a save
// published from it, and since when nothing has changed. A save compares this with the
// folder to refuse publishing, under a new key, a tree the build never touched (a
// restore-key hit that no install step followed would otherwise be served as an exact
// hit forever).
//
// One small file per folder, outside the folder (the tree stays byte for byte what
// was restored) and outside the checkout (git status stays clean): in
// <cache dir>/folders/, named by a hash of the folder's absolute path. "Since" is the
// state file's own mtime, stamped by the kernel's clock like every ctime in the tree:
// whatever the restore wrote has a ctime at or before it, and any later create, write,
// chmod, rename or delete in the tree moves some ctime past it (a deletion moves its
// folder's). Checking costs one lstat per entry, and stops at the first change.

export interface FolderState {
  /** the absolute folder */
  path: string;
  /** the entry the folder holds */
  key: string;
  by: 'restore' | 'save';
  /** restore: how the entry was found */
  match?: 'exact' | 'prefix';
  /** the folder's own inode: a folder deleted and made anew (npm ci) is another folder */
  dev: number;
  ino: number;
}

export interface RecordedState extends FolderState {
  /** ms since 1970: nothing in the folder changed after this */
  since: number;
  /** the record itself, whose mtime is since (what `find -cnewer` compares with) */
  file: string;
}

function stateFile(stateDir: string, folder: string): string {
  return join(stateDir, 'folders', `${createHash('sha256').update(folder).digest('hex').slice(0, 32)}.json`);
}

/**
 * Records what the folder holds now. `since` backdates the record to when the folder
 * was read (a save), so a change made while it was being read still counts as a change.
 */
export function recordFolder(stateDir: string, folder: string, what: Pick<FolderState, 'key' | 'by' | 'match'>, since?: number): void {
  const root = statSync(folder);
  const state: FolderState = { path: folder, ...what, dev: root.dev, ino: root.ino };
  const file = stateFile(stateDir, folder);
  mkdirSync(join(stateDir, 'folders'), { recursive: true });
  const temp = `${file}.${process.pid}.tmp`;
  writeFileSync(temp, `${JSON.stringify(state)}\n`);
  if (since !== undefined) utimesSync(temp, since / 1000, since / 1000);
  renameSync(temp, file); // concurrent larder processes see the old record or the new one
}

/** recordFolder, where a failure costs only the protection the record gives: a warning. */
export function rememberFolder(where: { cacheDir: string; log: (line: string) => void }, folder: string, what: Pick<FolderState, 'key' | 'by' | 'match'>, since?: number): void {
  try {
    recordFolder(where.cacheDir, folder, what, since);
  } catch (err) {
    where.log(`larder: cannot record what ${folder} holds in ${where.cacheDir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); set LARDER_CACHE_DIR to a writable folder`);
  }
}

/** The record for this folder, or undefined when there is none (or it names another folder). */
export function readFolderState(stateDir: string, folder: string): RecordedState | undefined {
  const file = stateFile(stateDir, folder);
  try {
    const state = JSON.parse(readFileSync(file, 'utf8')) as FolderState;
    if (state.path !== folder || typeof state.key !== 'string' || typeof state.ino !== 'number') return undefined;
    return { ...state, since: statSync(file).mtimeMs, file };
  } catch {
    return undefined;
  }
}

/** The record file's mtime now (its "since"), or undefined when it is gone. */
export function recordedSince(file: string): number | undefined {
  try {
    return statSync(file).mtimeMs;
  } catch {
    return undefined;
  }
}

/** True when the folder is still the one recorded and nothing in it changed since. */
export function unchangedSince(state: RecordedState): boolean {
  const top = unchangedRoot(state);
  return top !== undefined && unchangedBelow(top, state.since);
}

/**
 * The folder's own half of the check: still the recorded folder, itself unchanged. Returns
 * its entries (to check with unchangedBelow, in parts, on several threads), or undefined.
 */
export function unchangedRoot(state: RecordedState): string[] | undefined {
  try {
    const root = lstatSync(state.path);
    if (!root.isDirectory() || root.dev !== state.dev || root.ino !== state.ino || root.ctimeMs > state.since) return undefined;
    return readdirSync(state.path).map((name) => `${state.path}/${name}`);
  } catch {
    return undefined;
  }
}

/** True when none of these paths, nor anything below them, changed after since (ms). */
export function unchangedBelow(paths: readonly string[], since: number): boolean {
  try {
    // A list of folders still to read, not recursion: trees can be thousands deep.
    const folders: string[] = [];
    for (const path of paths) {
      const info = lstatSync(path);
      if (info.ctimeMs > since) return false;
      if (info.isDirectory()) folders.push(path);
    }
    for (let dir = folders.pop(); dir !== undefined; dir = folders.pop()) {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = `${dir}/${entry.name}`;
        if (lstatSync(path).ctimeMs > since) return false;
        if (entry.isDirectory()) folders.push(path);
      }
    }
    return true;
  } catch {
    return false; // something vanished while we looked: it changed
  }
}
