import { mkdirSync, unlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { EntryIndex } from '../../../server/storage/fs-entry-index.ts';
import { FsStore } from '../../../server/storage/fs.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The disk store's in-memory index of entries: a restore key is a binary search, and
// what other processes add or remove is seen at the next lookup.

const keysOf = async (index: EntryIndex, prefix: string) => (await index.list(prefix, 1000)).map((e) => e.key);

t.test('entries written or removed behind its back, even within one clock tick, are seen at the next look', async (t) => {
  const dir = join(tempDir(t, 'index'), 'entries');
  mkdirSync(dir);
  const index = new EntryIndex(dir);
  t.same(await keysOf(index, ''), []);
  for (let round = 0; round < 200; round++) {
    writeFileSync(join(dir, `npm-${round}.json`), '{}');
    t.ok((await keysOf(index, 'npm-')).includes(`npm-${round}`), `added ${round}`);
    if (round % 2 === 0) {
      unlinkSync(join(dir, `npm-${round}.json`));
      t.notOk((await keysOf(index, 'npm-')).includes(`npm-${round}`), `removed ${round}`);
    }
  }
  t.equal((await keysOf(index, 'npm-')).length, 100);
});

t.test('a change stamped with the same coarse mtime as the last reading is still seen', async (t) => {
  const dir = join(tempDir(t, 'index'), 'entries');
  mkdirSync(dir);
  const index = new EntryIndex(dir);
  writeFileSync(join(dir, 'a.json'), '{}');
  const tick = new Date(); // the kernel's clock, which ticks in steps of a few ms
  utimesSync(dir, tick, tick);
  t.same(await keysOf(index, ''), ['a']);
  writeFileSync(join(dir, 'b.json'), '{}');
  utimesSync(dir, tick, tick); // the second change fell in the same tick
  t.same((await keysOf(index, '')).sort(), ['a', 'b']);
});

t.test('prefixes are exact ranges, newest first, and the limit holds', async (t) => {
  const dir = join(tempDir(t, 'index'), 'entries');
  mkdirSync(dir);
  const when = (s: number) => new Date(1_700_000_000_000 + s * 1000);
  for (const [key, s] of [['npm-a', 3], ['npm-b', 1], ['npm-c', 2], ['npm', 9], ['npn-a', 5], ['np', 7]] as const) {
    writeFileSync(join(dir, `${key}.json`), '{}');
    utimesSync(join(dir, `${key}.json`), when(s), when(s));
  }
  writeFileSync(join(dir, 'not-an-entry.tmp'), '');
  const index = new EntryIndex(dir);
  t.same(await keysOf(index, 'npm-'), ['npm-a', 'npm-c', 'npm-b']);
  t.same(await keysOf(index, 'npm'), ['npm', 'npm-a', 'npm-c', 'npm-b']);
  t.same(await keysOf(index, 'npn'), ['npn-a']);
  t.same(await keysOf(index, 'pip-'), []);
  t.same((await index.list('np', 2)).map((e) => e.key), ['npm', 'np']);
  t.same(await keysOf(new EntryIndex(join(dir, 'absent')), ''), [], 'a namespace with no entries yet');
});

t.test("the store's own delete and re-publish of a key shows the new entry's time", async (t) => {
  const store = await new FsStore(tempDir(t, 'store')).init();
  t.equal(await store.putEntry('ns', 'k', Buffer.from('{}')), 'created');
  const first = (await store.listEntries('ns', 'k', 10))[0];
  await new Promise((resolve) => setTimeout(resolve, 20));
  await store.deleteEntry('ns', 'k');
  t.same(await store.listEntries('ns', 'k', 10), []);
  await store.putEntry('ns', 'k', Buffer.from('{"again":1}'));
  const second = (await store.listEntries('ns', 'k', 10))[0];
  t.ok(second && first && second.createdAt > first.createdAt, 'the new time');
  t.equal(second?.size, 11, 'and size');
});

t.test("a lookup after a publish sees it, even while a reading begun before the publish is in flight", async (t) => {
  const root = tempDir(t, 'racing');
  const store = await new FsStore(root).init();
  const dir = join(root, 'v1', 'ns', 'ns', 'entries');
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < 5000; i++) writeFileSync(join(dir, `old-${i}.json`), '{}'); // the first reading stats them all: slow
  const before = store.listEntries('ns', 'old-', 1); // a lookup begins reading the folder
  t.equal(await store.putEntry('ns', 'fresh', Buffer.from('{}')), 'created'); // a publish lands meanwhile
  t.same((await store.listEntries('ns', 'fresh', 10)).map((e) => e.key), ['fresh'], 'a lookup begun after the publish finds it');
  t.equal((await before).length, 1);
});
