import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { readFolderState, recordFolder, rememberFolder, unchangedSince } from '../../../client/folders/folder-state.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { deepTree } from '../../helpers/trees.ts';

const tick = (): Promise<void> => new Promise((resolve) => setTimeout(resolve, 20)); // past the file system clock's tick

t.test('a recorded folder is unchanged until anything in it changes, at any depth', async (t) => {
  const cache = tempDir(t, 'cache');
  const folder = tempDir(t, 'folder');
  const deep = deepTree(folder, 1000);
  recordFolder(cache, folder, { key: 'k1', by: 'restore', match: 'prefix' });
  const state = readFolderState(cache, folder);
  t.match(state, { path: folder, key: 'k1', by: 'restore', match: 'prefix' });
  t.equal(unchangedSince(state as NonNullable<typeof state>), true, 'nothing changed');
  await tick();
  writeFileSync(join(deep, 'leaf'), 'y');
  t.equal(unchangedSince(state as NonNullable<typeof state>), false, 'a write 1000 folders down is a change');
});

t.test('a folder moved away and another put in its place is not the recorded folder', async (t) => {
  const cache = tempDir(t, 'cache');
  const base = tempDir(t, 'base');
  const folder = join(base, 'node_modules');
  mkdirSync(folder);
  recordFolder(cache, folder, { key: 'k1', by: 'save' }, Date.now() + 60_000); // even a record from the future
  renameSync(folder, join(base, 'old'));
  mkdirSync(folder);
  t.equal(unchangedSince(readFolderState(cache, folder) as NonNullable<ReturnType<typeof readFolderState>>), false);
  t.equal(readFolderState(cache, join(base, 'other')), undefined, 'no record for a folder never recorded');
});

t.test('a cache path that is a file costs a warning, never the restore', async (t) => {
  const base = tempDir(t, 'cache');
  const cache = join(base, 'not-a-folder');
  writeFileSync(cache, '');
  const lines: string[] = [];
  rememberFolder({ cacheDir: cache, log: (line) => lines.push(line) }, tempDir(t, 'folder'), { key: 'k', by: 'save' });
  t.match(lines, [/cannot record what .* holds .*(ENOTDIR|EEXIST).*LARDER_CACHE_DIR/]);
});
