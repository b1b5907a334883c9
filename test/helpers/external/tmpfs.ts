import { execFileSync } from 'node:child_process';
import { tempDir } from '../tmp.ts';

/**
 * A real, small file system (tmpfs) for fault tests: fill it and writes fail with
 * ENOSPC. Needs root (CI runs as root); elsewhere the caller skips with the reason.
 */
export function mountTmpfs(t: { teardown: (fn: () => void) => void }, bytes: number, { readOnly = false } = {}): string {
  const dir = tempDir(t, 'tmpfs');
  execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${bytes}${readOnly ? ',ro' : ''}`, 'tmpfs', dir]);
  t.teardown(() => execFileSync('umount', ['-l', dir]));
  return dir;
}

export const tmpfsSkip = process.getuid?.() === 0 ? false : 'mounting a tmpfs needs root';
