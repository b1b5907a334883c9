import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { finishTree } from '../../../client/archive/finish-tree.ts';
import { extractPartBuffer } from '../../../client/archive/unpack.ts';
import { casefoldSkip, mountCasefold } from '../../helpers/external/casefold.ts';
import { asPart, type Member, tarOf } from '../../helpers/tar-build.ts';

// Nothing is ever created below a symbolic link, whatever the file system folds: on
// macOS and Windows (case-insensitive, normalising) `hooks/x` resolves through a link
// named `HOOKS`, and a planted git hook runs at the next checkout.

const attacks: Array<[string, Member[]]> = [
  ['a link HOOKS, then hooks/post-checkout', [{ path: 'HOOKS', type: 'SymbolicLink', linkpath: '../.git/hooks' }, { path: 'hooks/post-checkout', type: 'SymbolicLink', linkpath: '/tmp/evil' }]],
  ['a link HOOKS, then hooks/deeper/post-checkout', [{ path: 'HOOKS', type: 'SymbolicLink', linkpath: '../.git/hooks' }, { path: 'hooks/deeper/post-checkout', type: 'SymbolicLink', linkpath: '/tmp/evil' }]],
  ['a link named in NFC, then an entry below its NFD spelling', [{ path: 'caf\u00e9', type: 'SymbolicLink', linkpath: '../.git/hooks' }, { path: 'cafe\u0301/post-checkout', type: 'SymbolicLink', linkpath: '/tmp/evil' }]],
];

for (const [what, members] of attacks) {
  t.test(`on a case-folding file system: ${what} is refused, and nothing lands outside`, { skip: casefoldSkip }, async (t) => {
    const mount = await mountCasefold(t);
    mkdirSync(join(mount, '.git/hooks'), { recursive: true });
    const root = join(mount, 'staging');
    mkdirSync(root);
    const tar = tarOf(members);
    const part = asPart(tar, tar.length, members.length);
    t.throws(() => finishTree(root, [extractPartBuffer(part.bytes, part.ref, root)]), { code: 'LARDER_UNSAFE_ARCHIVE' });
    t.same(readdirSync(join(mount, '.git/hooks')), [], 'no hook was planted');
  });
}

t.test('the same names on a case-sensitive file system are two different things, and both are made', async (t) => {
  const { tempDir } = await import('../../helpers/tmp.ts');
  const base = tempDir(t, 'case-sensitive');
  mkdirSync(join(base, '.git/hooks'), { recursive: true });
  const root = join(base, 'staging');
  mkdirSync(root);
  const members = attacks[0]?.[1] as Member[];
  const tar = tarOf(members);
  const part = asPart(tar, tar.length, members.length);
  finishTree(root, [extractPartBuffer(part.bytes, part.ref, root)]);
  t.same(readdirSync(root).sort(), ['HOOKS', 'hooks']);
  t.same(readdirSync(join(base, '.git/hooks')), []);
});
