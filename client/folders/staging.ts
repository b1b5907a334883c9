import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, renameSync, rmdirSync, type Stats, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { LarderError } from '../../shared/errors.ts';

// A restore writes into a staging folder beside its target (same file system, so the
// final rename is atomic) and swaps it in only when everything succeeded. The old
// folder is moved aside first and removed afterwards: deleting a big tree before
// extracting makes every create slow on ext4 (FACTS.md), and a failed swap can put it back.
//
// Staging and moved-aside folders carry the restoring process's id, so whatever a
// killed restore leaves behind is swept by the next restore of that target: a staging
// folder is removed, and a target moved aside but never replaced (the process died
// between the two renames) is put back. Folders of a process still running are left
// alone.

export interface Staging {
  target: string;
  dir: string;
}

const ASIDE = '-old';

export function createStaging(target: string, log: (line: string) => void = () => {}): Staging {
  mkdirSync(dirname(target), { recursive: true });
  sweepLeftovers(target, log);
  const dir = join(dirname(target), `${stagingPrefix(target)}${process.pid}-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o755 });
  return { target, dir };
}

export function discardStaging(staging: Staging): void {
  try {
    removeTree(staging.dir);
  } catch {
    // left for the next restore of this target to sweep
  }
}

/** Moves each staging folder into place; the folders they replace are returned for removal. */
export function swapIntoPlace(stagings: readonly Staging[]): string[] {
  const replaced: string[] = [];
  for (const { target, dir } of stagings) {
    const aside = `${dir}${ASIDE}`;
    let movedAside = false;
    try {
      renameSync(target, aside);
      movedAside = true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    try {
      renameSync(dir, target);
    } catch (err) {
      if (movedAside) putBack(aside, target, err);
      throw err;
    }
    if (movedAside) replaced.push(aside);
  }
  return replaced;
}

/** Removes the replaced folders; one that cannot be removed is a warning, never a failed restore. */
export function removeTrees(paths: readonly string[], log: (line: string) => void = () => {}): void {
  for (const path of paths) {
    try {
      removeTree(path);
    } catch (err) {
      log(`larder restore: the folder it replaced could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); remove ${path} by hand (the next restore tries again)`);
    }
  }
}

/**
 * Removes a tree of any depth and any modes: read-only folders (a Go module cache,
 * a package that ships 0555 folders) are made writable first, and the walk keeps its own
 * list instead of recursing (rmSync overflows the stack some 2,000 folders down).
 */
export function removeTree(root: string): void {
  const stack: Array<{ path: string; opened: boolean }> = [{ path: root, opened: false }];
  for (let top = stack.at(-1); top !== undefined; top = stack.at(-1)) {
    if (top.opened) {
      rmdirSync(top.path);
      stack.pop();
      continue;
    }
    const st = lstatOrUndefined(top.path);
    if (!st || !st.isDirectory()) {
      if (st) unlinkSync(top.path);
      stack.pop();
      continue;
    }
    if ((st.mode & 0o700) !== 0o700) chmodSync(top.path, (st.mode & 0o7777) | 0o700);
    top.opened = true;
    for (const name of readdirSync(top.path)) stack.push({ path: join(top.path, name), opened: false });
  }
}

function stagingPrefix(target: string): string {
  return `.${basename(target)}.larder-`;
}

/** What killed restores of this target left behind: staging folders removed, a moved-aside target put back. */
function sweepLeftovers(target: string, log: (line: string) => void): void {
  const prefix = stagingPrefix(target);
  // -old: a target moved aside; -out: what a restore in place moved out (client/folders/patch.ts)
  const pattern = /^(\d+)-[0-9a-f]+(-old|-out)?$/;
  let names: string[];
  try {
    names = readdirSync(dirname(target)).filter((n) => n.startsWith(prefix));
  } catch {
    return;
  }
  // Moved-aside folders first: one of them may be the target itself.
  for (const name of names.sort((a, b) => Number(b.endsWith(ASIDE)) - Number(a.endsWith(ASIDE)))) {
    const match = pattern.exec(name.slice(prefix.length));
    if (!match || isAlive(Number(match[1]))) continue;
    const path = join(dirname(target), name);
    if (match[2] === ASIDE && !existsSync(target)) {
      putBack(path, target);
      log(`larder restore: put back ${target}, which a killed restore had moved aside`);
      continue;
    }
    try {
      removeTree(path);
    } catch (err) {
      log(`larder restore: could not remove ${path}, left by a killed restore (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); remove it by hand`);
    }
  }
}

/** Puts a moved-aside target back; when something took its place meanwhile, says so instead of hiding why. */
function putBack(aside: string, target: string, why?: unknown): void {
  try {
    renameSync(aside, target);
  } catch (err) {
    const reason = why ? ` after ${(why as NodeJS.ErrnoException).code ?? why}` : '';
    throw new LarderError('LARDER_TARGET_CHANGED', `${target} changed under the restore (another process restoring or writing it?)${reason}; the previous folder is at ${aside}`, { cause: err });
  }
}

/** Whether the larder process that left a folder is still running (this one, or another user's, counts). */
export function isAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // alive, someone else's
  }
}

export function lstatOrUndefined(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
}
