import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, rmSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

// A restore writes into a staging folder beside its target (same file system, so the
// final rename is atomic) and swaps it in only when everything succeeded. The old
// folder is moved aside first and removed afterwards: deleting a big tree before
// extracting makes every create slow on ext4 (FACTS.md), and a failed swap can put it back.

export interface Staging {
  target: string;
  dir: string;
}

export function createStaging(target: string): Staging {
  mkdirSync(dirname(target), { recursive: true });
  const dir = join(dirname(target), `.${basename(target)}.larder-${randomBytes(4).toString('hex')}`);
  mkdirSync(dir, { mode: 0o755 });
  return { target, dir };
}

export function discardStaging(staging: Staging): void {
  rmSync(staging.dir, { recursive: true, force: true });
}

/** Moves each staging folder into place; the folders they replace are returned for removal. */
export function swapIntoPlace(stagings: readonly Staging[]): string[] {
  const replaced: string[] = [];
  for (const { target, dir } of stagings) {
    const aside = `${dir}-old`;
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
      if (movedAside) renameSync(aside, target);
      throw err;
    }
    if (movedAside) replaced.push(aside);
  }
  return replaced;
}

export function removeTrees(paths: readonly string[]): void {
  for (const path of paths) rmSync(path, { recursive: true, force: true });
}
