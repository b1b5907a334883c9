import { chmodSync, lstatSync, mkdirSync, readlinkSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { leastEntries, leastListText, leastRestore, leastSave, nodeStart } from '../../bench/node-least.ts';
import { tempDir } from '../helpers/tmp.ts';

// The least a Node.js save and restore do, run for real in `node -e` on a small tree.

const MTIME = 1_600_000_000;

/** A tree below a folder of its own (as .m2/repository is), with a file of several 1 MiB pieces, modes, links, a name that is not ASCII, and old times. */
function project(t: Parameters<typeof tempDir>[0]): { dir: string; files: number; bytes: number } {
  const dir = tempDir(t, 'least-project');
  const tree = join(dir, 'outer', 'tree');
  mkdirSync(join(tree, 'sub', 'deeper'), { recursive: true });
  writeFileSync(join(tree, 'big.bin'), Buffer.alloc(2.5 * 1024 * 1024, 7));
  writeFileSync(join(tree, 'sub', 'tool'), '#!/bin/sh\n');
  chmodSync(join(tree, 'sub', 'tool'), 0o755);
  writeFileSync(join(tree, 'sub', 'deeper', 'empty'), '');
  writeFileSync(join(tree, 'sub', 'ünï code.txt'), 'x');
  symlinkSync('../big.bin', join(tree, 'sub', 'relative'));
  symlinkSync('/usr/bin/env', join(tree, 'absolute'));
  for (const path of ['big.bin', 'sub/tool', 'sub/ünï code.txt', 'sub/deeper/empty', 'sub/deeper', 'sub', '.']) utimesSync(join(tree, path), MTIME, MTIME);
  return { dir, files: 4, bytes: 2.5 * 1024 * 1024 + 11 };
}

t.test('the least save walks the whole tree and reads every byte of every file', async (t) => {
  const { dir, files, bytes } = project(t);
  const run = await leastSave(dir, 'outer/tree');
  t.same({ files: run.files, bytes: run.bytes }, { files, bytes });
  t.ok(run.seconds > 0 && run.cpuSeconds > 0, 'it is timed as a process');
});

t.test('the least restore makes every folder, file and link with its size, mode and time', async (t) => {
  const { dir, files, bytes } = project(t);
  const entries = leastEntries(dir, 'outer/tree');
  t.same(
    entries.map((e) => e.path),
    ['outer/tree', 'outer/tree/absolute', 'outer/tree/big.bin', 'outer/tree/sub', 'outer/tree/sub/deeper', 'outer/tree/sub/deeper/empty', 'outer/tree/sub/relative', 'outer/tree/sub/tool', 'outer/tree/sub/ünï code.txt'],
    'each folder before what it holds',
  );
  const list = join(tempDir(t, 'least-list'), 'list');
  writeFileSync(list, leastListText(entries));
  const into = tempDir(t, 'least-restored');
  const run = await leastRestore(into, list);
  t.same({ files: run.files, bytes: run.bytes }, { files, bytes });
  for (const entry of entries) {
    const made = lstatSync(join(into, entry.path));
    if (entry.kind === 'link') {
      t.ok(made.isSymbolicLink(), `${entry.path} is a link`);
      t.equal(readlinkSync(join(into, entry.path)), entry.target);
      continue;
    }
    t.equal(made.isDirectory(), entry.kind === 'dir', `${entry.path} is a ${entry.kind}`);
    t.equal(made.mode & 0o7777, entry.mode, `${entry.path}'s mode`);
    t.equal(Math.floor(made.mtimeMs / 1000), MTIME, `${entry.path}'s time`);
    if (entry.kind === 'file') t.equal(made.size, entry.size, `${entry.path}'s size`);
  }
  t.equal(lstatSync(join(into, 'outer/tree/sub/tool')).mode & 0o777, 0o755, 'an executable stays executable');
  await t.rejects(leastRestore(into, list), /exited with 1/, 'a tree already there fails the run');
});

t.test("node's own start and exit is a process that does nothing", async (t) => {
  const run = await nodeStart(tempDir(t, 'least-start'));
  t.equal(run.stdout, '');
  t.ok(run.seconds > 0);
});
