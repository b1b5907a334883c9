import { execFileSync } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';

// A folder on a file system of its own: ext4 made for one measurement, on a loop device
// over a sparse file. The root disk's ext4 carries its history: after a few dozen trees
// had been written and removed there, a restore spent most of its CPU in ext4's inode
// allocator, and the native tools' rows swung as much as larder's (docs/benchmarks.md).
// A CI runner starts from a fresh disk too. Made with ext4's defaults (journal on), but
// every inode table written up front, so no background initialisation runs during a
// measurement.

export interface FreshFolder {
  path: string;
  /** false where no file system could be made (not root, no mkfs.ext4): a plain folder */
  fresh: boolean;
  /** unmounts it and removes its image; a plain folder is left for the run's clean-up */
  release: () => void;
}

/** Room for `bytes` of files (with 4 KiB blocks, folders and the journal) and `files` of them. */
export function freshFolder(path: string, bytes: number, files: number): FreshFolder {
  mkdirSync(path, { recursive: true });
  if (!canMount()) return { path, fresh: false, release: () => {} };
  const image = `${path}.img`;
  const size = Math.ceil((bytes * 1.5 + files * 4096 + 256 * 1024 ** 2) / 1024 ** 2);
  const inodes = Math.max(16_384, files * 2);
  try {
    execFileSync('truncate', ['-s', `${size}M`, image]);
    execFileSync('mkfs.ext4', ['-q', '-F', '-m', '0', '-N', String(inodes), '-E', 'lazy_itable_init=0,lazy_journal_init=0', image]);
    execFileSync('mount', ['-o', 'loop', image, path]);
  } catch (err) {
    rmSync(image, { force: true });
    throw err;
  }
  const folder: FreshFolder = {
    path,
    fresh: true,
    release: () => {
      if (!mounted.delete(folder)) return;
      execFileSync('umount', [path]);
      rmSync(image, { force: true });
      rmSync(path, { recursive: true, force: true });
    },
  };
  mounted.add(folder);
  return folder;
}

const mounted = new Set<FreshFolder>();

/** Releases every folder still mounted: a run that failed half-way leaves none behind. */
export function releaseAll(): void {
  for (const folder of [...mounted]) folder.release();
}

let mountable: boolean | undefined;

function canMount(): boolean {
  mountable ??= process.platform === 'linux' && process.getuid?.() === 0 && ['mkfs.ext4', 'mount', 'truncate'].every(onPath);
  return mountable;
}

function onPath(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
