import t from 'tap';
import { safeRelativePath } from '../../../client/archive/safe-path.ts';

// Member names as a restore takes them. The hostile archives themselves are in tar-read.test.ts.

/** The rules spelled out the slow way: what safeRelativePath must agree with on every name. */
function byTheRules(name: string): string | Error {
  if (name.includes('\0') || name.startsWith('/') || /^[A-Za-z]:/.test(name)) return new Error('unsafe');
  const segments = name.split('/').filter((s) => s !== '' && s !== '.');
  return segments.includes('..') ? new Error('unsafe') : segments.join('/');
}

/** What safeRelativePath makes of a name: a refusal is only ever an unsafe-archive error. */
const outcome = (name: string): string | Error => {
  try {
    return safeRelativePath(name);
  } catch (err) {
    return (err as { code?: string }).code === 'LARDER_UNSAFE_ARCHIVE' ? new Error('unsafe') : (err as Error);
  }
};

t.test('clean names come back as they are (folders without their slash), others folded, and names that escape refused', async (t) => {
  for (const [name, want] of [
    ['node_modules/react/index.js', 'node_modules/react/index.js'],
    ['node_modules/react/', 'node_modules/react'],
    ['.bin/tsc', '.bin/tsc'],
    ['a/.hidden/..x/...', 'a/.hidden/..x/...'],
    ['C/d:e', 'C/d:e'],
    ['./a/b', 'a/b'],
    ['a//b/', 'a/b'],
    ['a/./b', 'a/b'],
    ['./', ''],
    ['', ''],
  ] as const) t.equal(safeRelativePath(name), want, JSON.stringify(name));
  for (const name of ['../x', 'a/../../x', 'a/..', '/etc/passwd', 'C:/x', 'c:x', 'a\0b']) t.throws(() => safeRelativePath(name), { code: 'LARDER_UNSAFE_ARCHIVE' }, JSON.stringify(name));
});

t.test('every short name of slashes, dots, NULs, letters and colons gets what the rules say', async (t) => {
  const alphabet = ['a', '.', '/', '\0', 'C', ':'];
  let names = [''];
  let checked = 0;
  for (let length = 1; length <= 6; length++) {
    names = names.flatMap((name) => alphabet.map((c) => name + c));
    for (const name of names) {
      const want = byTheRules(name);
      const got = outcome(name);
      if (String(got) !== String(want)) t.fail(`${JSON.stringify(name)}: ${String(got)}, not ${String(want)}`);
      checked++;
    }
  }
  t.equal(checked, 55_986, 'all of them checked');
});
