import { execFileSync } from 'node:child_process';
import { linkSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { walkTree } from '../../../client/archive/tree.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { tooDeepProject } from '../../helpers/trees.ts';

t.test('the walk lists parents before children, names in order, with types, sizes and links', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'b/inner'), { recursive: true });
  mkdirSync(join(root, 'a'));
  writeFileSync(join(root, 'b/inner/z.js'), 'zz');
  writeFileSync(join(root, 'b/Z.js'), 'capital sorts first');
  writeFileSync(join(root, 'a/one.txt'), '1');
  linkSync(join(root, 'a/one.txt'), join(root, 'b/again.txt'));
  symlinkSync('../a/one.txt', join(root, 'b/link'));
  execFileSync('mkfifo', [join(root, 'pipe')]);
  const tree = walkTree(`${root}/`); // a trailing slash changes nothing
  t.same(
    tree.entries.map((e) => [e.rel, e.type, e.size, e.link]),
    [
      ['a', 'dir', 0, undefined],
      ['a/one.txt', 'file', 1, undefined],
      ['b', 'dir', 0, undefined],
      ['b/Z.js', 'file', 19, undefined],
      ['b/again.txt', 'hardlink', 0, 'a/one.txt'],
      ['b/inner', 'dir', 0, undefined],
      ['b/inner/z.js', 'file', 2, undefined],
      ['b/link', 'symlink', 0, '../a/one.txt'],
    ],
  );
  t.same(tree.skipped, ['pipe'], 'a FIFO is not carried');
  t.equal(tree.entries.find((e) => e.rel === 'a/one.txt')?.mode, 0o644 & ~process.umask());
});

t.test('the walk of the same tree gives the same entries every time', async (t) => {
  const root = tempDir(t);
  for (const name of ['c', 'a', 'b', 'é', 'Z', '_']) writeFileSync(join(root, name), name);
  t.same(walkTree(root).entries, walkTree(root).entries);
  t.same(
    walkTree(root).entries.map((e) => e.rel),
    ['Z', '_', 'a', 'b', 'c', 'é'],
  );
});

t.test('a path the walk cannot read fails with LARDER_PATH_UNREADABLE, naming it', async (t) => {
  const project = tooDeepProject(t);
  t.throws(() => walkTree(join(project, 'deps')), { code: 'LARDER_PATH_UNREADABLE', message: /^d{200}\/.*could not be read \(ENAMETOOLONG\)/ });
});
