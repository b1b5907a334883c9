import { symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { walkTree } from '../../../client/archive/tree.ts';
import { entriesOf, listEntries } from '../../../client/workers/entry-list.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree } from '../../helpers/trees.ts';

// A part's entries wait for a worker as one buffer and come back exactly as the walk made them.

t.test('entries come back from their list exactly: names, links, modes, sizes, times to the fraction', async (t) => {
  const src = tempDir(t);
  buildSampleTree(src);
  writeFileSync(join(src, 'ünïcødé – ✓.txt'), 'x');
  symlinkSync('/usr/lib/python3', join(src, 'abs-link'));
  utimesSync(join(src, 'ünïcødé – ✓.txt'), 1_700_000_000.123456, 1_700_000_000.123456);
  const entries = walkTree(src).entries;
  const list = listEntries(entries);
  t.ok(list instanceof Uint8Array, 'one buffer');
  t.strictSame(entriesOf(list), entries);
  const odd = [{ rel: 'lone-\ud800-surrogate', type: 'file' as const, mode: 0o644, mtimeMs: 1234.5678901234, size: 3 }];
  t.strictSame(entriesOf(listEntries(odd)), odd, 'a lone surrogate too');
  t.strictSame(entriesOf(listEntries([])), [], 'no entries');
});
