import { lstatSync, lutimesSync, mkdirSync, readdirSync, renameSync, rmdirSync, type Stats, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { LarderError } from '../../shared/errors.ts';
import { finishFolders, parentOf } from '../archive/finish-tree.ts';
import type { DirRecord, Member } from '../archive/tar-read.ts';
import { lstatOrUndefined, type Staging } from './staging.ts';

// A restore in place. When the folder still holds, untouched, an entry that shares most
// parts with the one asked for (a branch switch: 89 of 104 parts alike), only the
// difference is written: the parts only the new entry has are extracted into a staging
// folder as always; then what the parts only the old entry has put in the target is moved
// out (into a folder beside it, removed after the restore), and the staging tree is moved
// in. Both move whole folders where they can: a folder the new entry does not have goes
// out in one rename, one the target lacks comes in in one. Rewriting 69,000 files and
// deleting as many costs seconds on this ext4; this costs what changed.
//
// Every step is logged and undone in reverse on any failure, so a failed restore leaves
// the target as it was; a killed one leaves a folder whose ctimes no longer match its
// record, which the next restore replaces whole.

export interface Patch {
  target: string;
  /** the new parts' files, extracted with their links, folders not yet finished */
  staging: Staging;
  /**
   * members of the parts only the old entry has, parents before children. None of them
   * is a member of a kept part, so a name the staging folder lacks is not in the new entry,
   * nor is anything below it.
   */
  removed: readonly Member[];
  /** the folders the new parts hold: their modes and times are applied last */
  dirs: readonly DirRecord[];
}

/** A member already in place (of a kept part) that the new entry gives another time. */
export interface Retime {
  rel: string;
  mtime: number;
  /** its time in the old entry, to put back */
  was: number;
}

/** The suffix of the folder a patch moves old files into; sweepLeftovers removes it. */
export const MOVED_OUT = '-out';

/** Applies the patch; returns the folder of what it moved out, to remove once the restore is done. */
export function patchIntoPlace({ target, staging, removed, dirs }: Patch): string {
  const out = `${staging.dir}${MOVED_OUT}`;
  mkdirSync(out);
  const undo: Array<() => void> = [];
  // Folders of the target as they were before the first change in each: a folder the new
  // parts do not hold keeps the times it had.
  const before = new Map<string, Stats>();
  const touch = (rel: string) => {
    if (!before.has(rel)) before.set(rel, lstatSync(join(target, rel)));
  };
  try {
    const gone = new Set<string>();
    let moved = 0;
    for (const { rel, kind } of removed) {
      const parent = parentOf(rel);
      if (gone.has(parent)) {
        gone.add(rel); // went with its folder
        continue;
      }
      // A folder the new parts hold too stays, to be merged; anything else goes, whole.
      if (kind === 'dir' && lstatOrUndefined(join(staging.dir, rel))?.isDirectory()) continue;
      const from = join(target, rel);
      const to = join(out, String(moved++));
      touch(parent);
      renameSync(from, to);
      undo.push(() => renameSync(to, from));
      gone.add(rel);
    }
    moveIn(staging.dir, target, touch, undo);
    finishFolders(target, dirs);
    const own = new Set(dirs.map((d) => d.rel));
    restoreTimes(target, [...before].filter(([rel]) => !own.has(rel)));
    return out;
  } catch (err) {
    try {
      for (const step of undo.reverse()) step();
      rmdirSync(out);
    } catch (undoErr) {
      throw new LarderError('LARDER_TARGET_CHANGED', `${target} changed under the restore (${code(err)}) and could not be put back (${code(undoErr)}); what was moved out is in ${out}; delete ${target} and restore again`, { cause: err });
    }
    // Times last and at best: the folder the failure was in may refuse them too.
    restoreTimes(target, [...before], true);
    throw err;
  }
}

/**
 * Gives members already in place their new times (or, undoing, their old ones), a slice
 * at a time: it runs while the part workers extract, and must not keep them waiting for
 * their next part. A folder the patch then changes gets this time back (patchIntoPlace).
 */
export async function retimeInPlace(target: string, retimed: readonly Retime[], undoing = false): Promise<void> {
  const SLICE = 2000;
  for (let start = 0; start < retimed.length; start += SLICE) {
    if (start > 0) await new Promise((resolve) => setImmediate(resolve));
    for (const { rel, mtime, was } of retimed.slice(start, start + SLICE)) {
      const time = undoing ? was : mtime;
      lutimesSync(join(target, rel), time, time);
    }
  }
}

/** Moves the staging tree into the target: a name the target lacks moves whole, a folder in both is merged. */
function moveIn(staging: string, target: string, touch: (rel: string) => void, undo: Array<() => void>): void {
  const folders = [''];
  for (let rel = folders.pop(); rel !== undefined; rel = folders.pop()) {
    for (const entry of readdirSync(join(staging, rel), { withFileTypes: true })) {
      const sub = rel === '' ? entry.name : `${rel}/${entry.name}`;
      const from = join(staging, sub);
      const to = join(target, sub);
      const there = lstatOrUndefined(to);
      if (there === undefined) {
        touch(rel);
        renameSync(from, to);
        undo.push(() => renameSync(to, from));
      } else if (there.isDirectory() && entry.isDirectory()) {
        folders.push(sub);
      } else {
        throw new LarderError('LARDER_TARGET_CHANGED', `${to} appeared in ${target} while it was being restored (another process writing it?); restore again`);
      }
    }
  }
}

/** Puts folder times back; a folder the patch removed has none to put back. */
function restoreTimes(target: string, folders: ReadonlyArray<[string, Stats]>, atBest = false): void {
  for (const [rel, st] of folders) {
    try {
      utimesSync(join(target, rel), st.atime, st.mtime);
    } catch (err) {
      if (!atBest && (err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
  }
}

function code(err: unknown): string {
  return (err as NodeJS.ErrnoException).code ?? (err as Error).message;
}
