import { spawn } from 'node:child_process';

// The "nothing changed since" check of a big folder, by the system's find: one lstat per
// entry either way, but find makes them without a JavaScript object per file, and two
// finds use both cores. 74,000 entries: ~0.12 s, against ~0.3 s for the check in Node.
// `find PATHS -cnewer REF -print -quit` prints the first entry whose ctime is after REF's
// mtime (the record's "since") and stops; GNU and BSD find both take it. It never
// follows a symbolic link (-P, the default).

/**
 * True when no entry at or below these paths changed after the reference file's mtime;
 * false on a change or any error (find exits non-zero: a folder it could not read, an
 * entry that vanished); undefined when there is no find to run (Windows), and the caller
 * checks in Node instead.
 */
export async function unchangedByFind(paths: readonly string[], reference: string, processes: number): Promise<boolean | undefined> {
  if (process.platform === 'win32' || paths.length === 0) return process.platform === 'win32' ? undefined : true;
  const shares = Array.from({ length: Math.max(1, Math.min(processes, paths.length)) }, (_, i) => paths.filter((_, j) => j % processes === i));
  const answers = await Promise.all(shares.map((share) => findNothingNewer(share, reference)));
  if (answers.includes(undefined)) return undefined;
  return answers.every(Boolean);
}

function findNothingNewer(paths: readonly string[], reference: string): Promise<boolean | undefined> {
  return new Promise((resolve) => {
    // `--` is not needed: every path is absolute, so none reads as an option.
    const child = spawn('find', [...paths, '-cnewer', reference, '-print', '-quit'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let printed = false;
    child.stdout.on('data', () => {
      printed = true;
    });
    child.once('error', () => resolve(undefined)); // no find here
    child.once('close', (code) => resolve(code === 0 && !printed));
  });
}
