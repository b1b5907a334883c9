import { execFileSync } from 'node:child_process';
import { existsSync, lstatSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import type { Member } from '../../../client/archive/tar-read.ts';
import { patchIntoPlace, retimeInPlace } from '../../../client/folders/patch.ts';
import { createStaging } from '../../../client/folders/staging.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { snapshotTree } from '../../helpers/trees.ts';

const OLD = 1_000_000_000; // 2001: any time the patch set itself would be now

/** A folder holding these files (content = name), every time set to OLD, deepest first. */
function tree(root: string, files: string[]): void {
  for (const rel of files) {
    mkdirSync(dirname(join(root, rel)), { recursive: true });
    writeFileSync(join(root, rel), rel);
  }
  const all: string[] = [];
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      if (lstatSync(path).isDirectory()) walk(path);
      all.push(path);
    }
  };
  walk(root);
  for (const path of [...all, root]) utimesSync(path, OLD, OLD);
}

const file = (rel: string): Member => ({ rel, kind: 'file' });
const dir = (rel: string): Member => ({ rel, kind: 'dir' });

t.test('a patch moves the old parts\' members out and the new ones in; folders keep or take their times', async (t) => {
  const root = tempDir(t, 'patch');
  const target = join(root, 'deps');
  tree(target, ['a/x.js', 'a/y.js', 'gone/only.js', 'kept/k.js']);
  const staging = createStaging(target);
  tree(staging.dir, ['a/z.js', 'fresh/lib/n.js']);

  const out = patchIntoPlace({
    target,
    staging,
    removed: [dir('a'), file('a/x.js'), dir('gone'), file('gone/only.js')],
    dirs: [{ rel: 'fresh', mode: 0o750, mtime: OLD + 5 }],
  });
  t.same(readdirSync(target).sort(), ['a', 'fresh', 'kept'], 'a folder only the old parts held is gone');
  t.same(readdirSync(join(target, 'a')).sort(), ['y.js', 'z.js'], 'a folder both hold is merged');
  t.equal(statSync(join(target, 'fresh')).mode & 0o777, 0o750, 'a new folder takes its mode');
  t.equal(statSync(join(target, 'fresh')).mtimeMs, (OLD + 5) * 1000, 'and its time');
  t.equal(statSync(join(target, 'a')).mtimeMs, OLD * 1000, 'a folder the new parts do not hold keeps the time it had, though entries changed in it');
  t.equal(statSync(target).mtimeMs, OLD * 1000, 'so does the root');
  await retimeInPlace(target, [{ rel: 'kept/k.js', mtime: OLD + 9, was: OLD }]);
  t.equal(statSync(join(target, 'kept', 'k.js')).mtimeMs, (OLD + 9) * 1000, 'a kept member takes its new time');
  await retimeInPlace(target, [{ rel: 'kept/k.js', mtime: OLD + 9, was: OLD }], true);
  t.equal(statSync(join(target, 'kept', 'k.js')).mtimeMs, OLD * 1000, 'and its old one back when a restore is undone');
  t.same(readdirSync(out).length, 2, 'the old file and the old folder (whole, in one move) wait in the moved-out folder');
});

t.test('a patch that meets a change made meanwhile is undone: the target is as it was, times and all', async (t) => {
  const root = tempDir(t, 'patch-conflict');
  const target = join(root, 'deps');
  tree(target, ['a/x.js', 'a/y.js', 'b/q.js', 'gone/only.js']);
  const staging = createStaging(target);
  tree(staging.dir, ['a/z.js', 'b/q.js', 'c/n.js']); // b/q.js is in the target, and no old part held it
  const before = snapshotTree(target);
  t.throws(
    () => patchIntoPlace({ target, staging, removed: [dir('a'), file('a/x.js'), dir('gone'), file('gone/only.js')], dirs: [] }),
    { code: 'LARDER_TARGET_CHANGED', message: /b\/q\.js appeared in .* while it was being restored/ },
  );
  t.same(snapshotTree(target), before, 'every file moved out is back, every file moved in is out, folder times put back');
  t.ok(existsSync(join(staging.dir, 'a', 'z.js')) && !existsSync(`${staging.dir}-out`), 'the staging folder holds its files again; the moved-out folder is gone');
});

t.test('a patch that the file system refuses half way (an immutable folder) is undone', { skip: process.getuid?.() === 0 ? false : 'chattr needs root' }, async (t) => {
  const root = tempDir(t, 'patch-immutable');
  const target = join(root, 'deps');
  tree(target, ['a/x.js', 'a/y.js', 'locked/l.js']);
  const staging = createStaging(target);
  tree(staging.dir, ['a/z.js', 'locked/new.js']);
  const before = snapshotTree(target);
  try {
    execFileSync('chattr', ['+i', join(target, 'locked')]);
  } catch {
    t.pass('not run: this file system has no immutable flag');
    return;
  }
  t.teardown(() => execFileSync('chattr', ['-i', join(target, 'locked')]));
  t.throws(() => patchIntoPlace({ target, staging, removed: [file('a/x.js')], dirs: [] }), { code: 'EPERM' });
  execFileSync('chattr', ['-i', join(target, 'locked')]);
  t.same(snapshotTree(target), before, 'the target is as it was');
});
