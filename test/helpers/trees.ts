import { createHash } from 'node:crypto';
import { chmodSync, linkSync, lstatSync, lutimesSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';

// Real trees with every awkward thing a dependency folder holds, and a snapshot that
// captures what a restore must keep: type, content, mode, mtime (whole seconds), link
// targets and which names share an inode.

export function buildSampleTree(root: string): void {
  const file = (rel: string, content: string | Buffer, mode = 0o644): void => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), content);
    chmodSync(join(root, rel), mode);
  };
  file('package.json', '{"name":"sample"}\n');
  file('lib/index.js', 'module.exports = 42;\n');
  file('bin/tool', '#!/bin/sh\necho tool\n', 0o755);
  file('lib/readonly.txt', 'do not touch\n', 0o444);
  file('lib/empty.txt', '');
  file('big/blob.bin', Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  file(`deep/${'nested-folder-name/'.repeat(8)}file-with-a-long-name-${'x'.repeat(80)}.js`, 'long\n');
  file('unicode/häßlich-文字-🙂.txt', 'unicode name\n');
  mkdirSync(join(root, 'empty-dir/inner-empty'), { recursive: true });
  mkdirSync(join(root, 'locked-dir'));
  file('locked-dir/inside.txt', 'inside a read-only folder\n');
  chmodSync(join(root, 'locked-dir'), 0o555);
  symlinkSync('../lib/index.js', join(root, 'bin/relative-link'));
  symlinkSync('/usr/bin/python3', join(root, 'bin/python3')); // a venv's absolute interpreter link
  symlinkSync('does-not-exist', join(root, 'bin/dangling'));
  symlinkSync('lib', join(root, 'dir-link'));
  linkSync(join(root, 'lib/index.js'), join(root, 'lib/hardlink.js'));
  const mtime = new Date('2024-05-06T07:08:09Z');
  for (const rel of ['lib/index.js', 'bin/tool', 'unicode/häßlich-文字-🙂.txt']) utimesSync(join(root, rel), mtime, mtime);
  lutimesSync(join(root, 'bin/relative-link'), mtime, mtime);
  utimesSync(join(root, 'empty-dir'), mtime, mtime);
}

export interface SnapshotEntry {
  rel: string;
  type: 'file' | 'dir' | 'symlink';
  mode: number;
  mtime: number;
  content?: string;
  target?: string;
  inodeGroup?: string;
}

export function snapshotTree(root: string): SnapshotEntry[] {
  const entries: SnapshotEntry[] = [];
  const inodes = new Map<number, string>();
  const visit = (rel: string): void => {
    for (const name of readdirSync(join(root, rel)).sort()) {
      const childRel = rel === '' ? name : `${rel}/${name}`;
      const abs = join(root, childRel);
      const st = lstatSync(abs);
      const base = { rel: childRel, mode: st.mode & 0o7777, mtime: Math.floor(st.mtimeMs / 1000) };
      if (st.isSymbolicLink()) entries.push({ ...base, type: 'symlink', target: readlinkSync(abs) });
      else if (st.isDirectory()) {
        entries.push({ ...base, type: 'dir' });
        visit(childRel);
      } else {
        const first = inodes.get(st.ino) ?? childRel;
        inodes.set(st.ino, first);
        entries.push({ ...base, type: 'file', content: createHash('sha256').update(readFileSync(abs)).digest('hex'), inodeGroup: st.nlink > 1 ? first : undefined });
      }
    }
  };
  visit('');
  return entries;
}

/**
 * A fresh folder holding deps/ (one ordinary file, then folders nested until the full
 * path is longer than PATH_MAX, 4096, with a file at the bottom): any call by full path
 * down there fails with ENAMETOOLONG. Built with relative cd's in a shell, and removed
 * with rm -rf (Node's rmSync fails on it too).
 */
export function tooDeepProject(t: { teardown: (fn: () => void) => void }): string {
  const dir = mkdtempSync(join(tmpdir(), 'too-deep-'));
  t.teardown(() => execFileSync('rm', ['-rf', dir]));
  const name = 'd'.repeat(200);
  // cd -P: dash's logical cd refuses a $PWD longer than PATH_MAX
  execFileSync('sh', ['-c', `set -e; mkdir deps; echo ok > deps/a.txt; cd deps; for i in $(seq 25); do mkdir ${name}; cd -P ${name}; done; echo bottom > file.txt`], { cwd: dir });
  return dir;
}

/** Folders `d/d/d/…` `depth` deep under root, with a file `leaf` (content "x") at the bottom; returns the bottom folder. */
export function deepTree(root: string, depth: number): string {
  let deep = root;
  for (let i = 0; i < depth; i++) deep = join(deep, 'd');
  mkdirSync(deep, { recursive: true });
  writeFileSync(join(deep, 'leaf'), 'x');
  return deep;
}
