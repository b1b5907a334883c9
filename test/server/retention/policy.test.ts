import t from 'tap';
import { chooseEvictions, type LiveEntry } from '../../../server/retention/policy.ts';

const DAY = 86_400_000;
const NOW = 400 * DAY;
const entry = (ns: string, key: string, lastAccessDay: number, digests: string[]): LiveEntry => ({ ns, key, size: 10, lastAccess: lastAccessDay * DAY, digests });
const sizes = (pairs: Record<string, number>): Map<string, number> => new Map(Object.entries(pairs));

t.test('least recently used goes first, until the store is under its cap', async (t) => {
  const entries = [entry('a', 'new', 399, ['x']), entry('a', 'old', 100, ['y']), entry('a', 'middle', 300, ['z'])];
  const blobs = sizes({ 'a/x': 100, 'a/y': 100, 'a/z': 100 });
  const { evict, live } = chooseEvictions(entries, blobs, { maxBytes: 200 }, NOW);
  t.same(evict.map((e) => [e.entry.key, e.reason]), [['old', 'size'], ['middle', 'size']]);
  t.equal(live.bytes, 110, 'the newest stays: its blob and manifest');
  t.same(chooseEvictions(entries, blobs, { maxBytes: 330 }, NOW).evict, [], 'nothing goes under the cap');
});

t.test('a blob two entries share counts once, and goes only with the last of them', async (t) => {
  const entries = [entry('a', 'old', 1, ['shared', 'own-old']), entry('a', 'new', 2, ['shared', 'own-new'])];
  const blobs = sizes({ 'a/shared': 1000, 'a/own-old': 10, 'a/own-new': 10 });
  const all = chooseEvictions(entries, blobs, {}, NOW);
  t.equal(all.live.bytes, 1000 + 10 + 10 + 2 * 10, 'shared bytes counted once');
  const { evict, live } = chooseEvictions(entries, blobs, { maxBytes: 1015 }, NOW);
  t.same(evict.map((e) => e.entry.key), ['old', 'new'], 'evicting the old one frees only its own 20 bytes: not enough for 1,015');
  t.equal(live.bytes, 0);
  t.same(chooseEvictions(entries, blobs, { maxBytes: 1020 }, NOW).evict.map((e) => e.entry.key), ['old'], 'the old one alone is enough for 1,020');
});

t.test('idle entries go whatever the size; quotas hold per namespace before the store cap', async (t) => {
  const entries = [entry('web', 'w1', 10, ['a']), entry('web', 'w2', 390, ['b']), entry('web', 'w3', 395, ['c']), entry('api', 'p1', 20, ['d']), entry('api', 'p2', 398, ['e'])];
  const blobs = sizes({ 'web/a': 50, 'web/b': 50, 'web/c': 50, 'api/d': 50, 'api/e': 50 });
  const { evict, byNamespace } = chooseEvictions(entries, blobs, { maxIdleMs: 30 * DAY, quotas: { web: 60 } }, NOW);
  t.same(evict.map((e) => [e.entry.key, e.reason]), [['w1', 'idle'], ['p1', 'idle'], ['w2', 'quota']]);
  t.same(byNamespace.get('web'), { bytes: 60, entries: 1 });
  t.same(byNamespace.get('api'), { bytes: 60, entries: 1 }, 'another namespace keeps what the quota does not touch');
});

t.test('equal times fall back to namespace and key, so every run agrees', async (t) => {
  const entries = [entry('b', 'k', 5, ['1']), entry('a', 'z', 5, ['2']), entry('a', 'y', 5, ['3'])];
  const { evict } = chooseEvictions(entries, sizes({ 'b/1': 10, 'a/2': 10, 'a/3': 10 }), { maxBytes: 20 }, NOW);
  t.same(evict.map((e) => `${e.entry.ns}/${e.entry.key}`), ['a/y', 'a/z']);
});
