import { mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { LarderError } from '../../shared/errors.ts';
import { isAlive } from '../folders/staging.ts';

// A save's spill folder: where a part too big for memory (one big file) is compressed
// and uploaded from (client/archive/pack.ts). The save removes it when it ends, however
// it ends; its name holds the process id, so the folders a killed save left (no finally
// runs on SIGKILL) are removed by the next save once their process is gone.

const PREFIX = 'larder-spill-';

/** A new spill folder: in the cache folder, else (read-only) the system's temp folder. */
export function spillFolder(cacheDir: string): string {
  for (const dir of [cacheDir, tmpdir()]) {
    try {
      mkdirSync(dir, { recursive: true });
      for (const name of readdirSync(dir)) if (leftBehind(name)) removeQuietly(join(dir, name));
      return mkdtempSync(join(dir, `${PREFIX}${process.pid}-`));
    } catch {
      // not writable: the next place
    }
  }
  throw new LarderError('LARDER_PATH_UNWRITABLE', `neither ${cacheDir} nor ${tmpdir()} can hold a temporary file; set LARDER_CACHE_DIR to a writable folder`);
}

/** A spill folder whose save is no longer running (one whose id another process now has is left for later). */
function leftBehind(name: string): boolean {
  const pid = Number(/^larder-spill-(\d+)-/.exec(name)?.[1]);
  return pid > 0 && !isAlive(pid);
}

function removeQuietly(path: string): void {
  try {
    rmSync(path, { recursive: true, force: true });
  } catch {
    // another user's, or going: not this save's business
  }
}
