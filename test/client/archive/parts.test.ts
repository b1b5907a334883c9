import t from 'tap';
import { MAX_PART_BYTES, MIN_PART_BYTES, planParts } from '../../../client/archive/parts.ts';
import type { TreeEntry } from '../../../client/archive/tree.ts';

const file = (rel: string, size: number): TreeEntry => ({ rel, type: 'file', mode: 0o644, mtimeMs: 0, size });
const tree = (packages: string[]): TreeEntry[] =>
  packages.flatMap((p) => Array.from({ length: 40 }, (_, i) => file(`${p}/file-${i}.js`, 10_000 + ((i * 7919) % 20_000))));
const names = (parts: TreeEntry[][]): string[] => parts.map((p) => p.map((e) => e.rel).join('|'));

t.test('parts fall between the minimum and maximum size', async (t) => {
  const parts = planParts(tree(Array.from({ length: 600 }, (_, i) => `pkg-${String(i).padStart(4, '0')}`)));
  t.ok(parts.length > 10);
  const sizes = parts.map((p) => p.reduce((s, e) => s + 512 + Math.ceil(e.size / 512) * 512, 0));
  for (const size of sizes.slice(0, -1)) t.ok(size >= MIN_PART_BYTES && size <= MAX_PART_BYTES, `${size}`);
  const mean = sizes.reduce((a, b) => a + b, 0) / sizes.length;
  t.ok(mean > 3e6 && mean < 6e6, `mean part is ~4 MiB (${(mean / 1e6).toFixed(1)} MB)`);
});

t.test('adding a package in the middle keeps most parts the same', async (t) => {
  const packages = Array.from({ length: 600 }, (_, i) => `pkg-${String(i).padStart(4, '0')}`);
  const before = names(planParts(tree(packages)));
  const changed = [...packages.slice(0, 300), 'pkg-0299-new', ...packages.slice(300)];
  const after = new Set(names(planParts(tree(changed))));
  const kept = before.filter((p) => after.has(p)).length;
  t.ok(kept >= before.length - 2, `${kept} of ${before.length} parts unchanged`);
});

t.test('one file bigger than a part is a part of its own', async (t) => {
  const parts = planParts([file('a', 100), file('huge', 3 * MAX_PART_BYTES), file('b', 100)]);
  t.same(names(parts), ['a', 'huge', 'b']);
});
