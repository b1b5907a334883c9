import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { tempDir } from '../tmp.ts';

// A case- and normalisation-insensitive file system (casefold-fs.py, a FUSE passthrough
// like macOS's and Windows's defaults), for tests that nothing is ever written through a
// link whatever a file system folds. Needs root, /dev/fuse and Debian's python3-fusepy
// and fuse3, which test/run.sh installs.

const SCRIPT = fileURLToPath(new URL('./casefold-fs.py', import.meta.url));

export const casefoldSkip: string | false =
  process.getuid?.() !== 0 ? 'a FUSE mount needs root here' : !existsSync('/dev/fuse') ? 'no /dev/fuse' : !existsSync('/usr/lib/python3/dist-packages/fusepy.py') ? 'no python3-fusepy (apt)' : false;

export async function mountCasefold(t: { teardown: (fn: () => void) => void }): Promise<string> {
  const backing = tempDir(t, 'casefold-backing');
  const mount = tempDir(t, 'casefold');
  const child = spawn('/usr/bin/python3', [SCRIPT, backing, mount], { stdio: 'ignore' });
  t.teardown(() => {
    try {
      execFileSync('fusermount3', ['-u', mount]);
    } catch {
      child.kill('SIGKILL');
    }
  });
  for (let i = 0; i < 100; i++) {
    if (readFileSync('/proc/mounts', 'utf8').includes(` ${mount} `)) return mount;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('the case-folding file system did not mount');
}
