import { chmodSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { unchangedByFind } from '../../../client/folders/find-changes.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The check by the system's find: each kind of change below the folder is seen, in any
// share, and no find at all is told apart from "changed".

const pause = () => new Promise((resolve) => setTimeout(resolve, 50)); // past the kernel's coarse clock

/** A folder, and a record whose mtime ("since") lies after every ctime in it. */
async function folderWithRecord(t: Parameters<typeof tempDir>[0]): Promise<{ paths: () => string[]; root: string; record: string }> {
  const base = tempDir(t, 'find-changes');
  const root = join(base, 'deps');
  for (let i = 0; i < 10; i++) {
    mkdirSync(join(root, `pkg-${i}`, 'lib', 'deep'), { recursive: true });
    writeFileSync(join(root, `pkg-${i}`, 'lib', 'deep', 'index.js'), `module.exports = ${i};`);
  }
  const record = join(base, 'record.json');
  await pause();
  writeFileSync(record, '{}');
  await pause();
  return { root, record, paths: () => readdirSync(root).map((name) => join(root, name)) };
}

t.test('nothing changed: true, in one share or several', async (t) => {
  const { paths, record } = await folderWithRecord(t);
  t.equal(await unchangedByFind(paths(), record, 1), true);
  t.equal(await unchangedByFind(paths(), record, 2), true);
});

t.test('a write, a chmod, a new file or a deletion anywhere below is a change', async (t) => {
  const changes: Array<[string, (root: string) => void]> = [
    ['a file rewritten deep down', (root) => writeFileSync(join(root, 'pkg-7', 'lib', 'deep', 'index.js'), 'changed')],
    ['a chmod', (root) => chmodSync(join(root, 'pkg-3', 'lib'), 0o700)],
    ['a new file', (root) => writeFileSync(join(root, 'pkg-0', 'lib', 'new.js'), '')],
    ['a deletion', (root) => rmSync(join(root, 'pkg-9', 'lib', 'deep', 'index.js'))],
  ];
  for (const [what, change] of changes) {
    const { paths, record, root } = await folderWithRecord(t);
    t.equal(await unchangedByFind(paths(), record, 2), true, `before ${what}`);
    change(root);
    t.equal(await unchangedByFind(paths(), record, 2), false, what);
  }
});

t.test('an entry find cannot read counts as changed; no find at all is undefined, for the caller to check in Node', { skip: process.platform === 'win32' }, async (t) => {
  const { paths, record } = await folderWithRecord(t);
  t.equal(await unchangedByFind([...paths(), '/nonexistent/larder-vanished'], record, 2), false, 'a vanished entry');
  const path = process.env.PATH;
  process.env.PATH = tempDir(t, 'no-find');
  t.teardown(() => {
    process.env.PATH = path;
  });
  t.equal(await unchangedByFind(paths(), record, 2), undefined);
});
