import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { freshFolder, releaseAll } from '../../bench/fresh-fs.ts';
import { tempDir } from '../helpers/tmp.ts';

const rootSkip = process.getuid?.() === 0 ? false : 'making a file system needs root';

/** The file system a path is on, as the kernel's mount table names it. */
const fileSystemOf = (path: string): string => execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--target', path]).toString().trim();

t.test('a fresh folder is an empty ext4 of its own, with room for the tree, gone when released', { skip: rootSkip }, async (t) => {
  const work = tempDir(t, 'fresh-fs');
  const folder = freshFolder(join(work, 'restore'), 64 * 1024 ** 2, 20_000);
  t.teardown(releaseAll);
  t.equal(folder.fresh, true);
  t.not(statSync(folder.path).dev, statSync(work).dev, 'a device other than the folder it sits in');
  t.equal(fileSystemOf(folder.path), 'ext4');
  const stats = JSON.parse(execFileSync('sh', ['-c', `df -B1 --output=size,itotal,iused "${folder.path}" | tail -n 1 | awk '{print "[" $1 "," $2 "," $3 "]"}'`]).toString()) as number[];
  t.ok((stats[0] ?? 0) >= 64 * 1024 ** 2, 'room for the bytes');
  t.ok((stats[1] ?? 0) >= 20_000, 'and for the files');
  t.ok((stats[2] ?? Infinity) <= 11, 'holding nothing but lost+found');

  writeFileSync(join(folder.path, 'file'), 'bytes');
  t.equal(readFileSync(join(folder.path, 'file'), 'utf8'), 'bytes');
  folder.release();
  t.notOk(existsSync(folder.path), 'the mount point is gone');
  t.notOk(existsSync(`${folder.path}.img`), 'and its image');
  t.doesNotThrow(() => folder.release(), 'releasing twice is harmless');
});

t.test('releaseAll lets go of every folder still mounted', { skip: rootSkip }, async (t) => {
  const work = tempDir(t, 'fresh-fs');
  const folders = ['a', 'b'].map((name) => freshFolder(join(work, name), 8 * 1024 ** 2, 0));
  folders[0]?.release();
  releaseAll();
  for (const folder of folders) t.notOk(existsSync(folder.path), `${folder.path} is unmounted and gone`);
});
