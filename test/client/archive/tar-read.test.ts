import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t from 'tap';
import { finishTree } from '../../../client/archive/finish-tree.ts';
import { extractPart, extractPartBuffer } from '../../../client/archive/unpack.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { encodeTimes } from '../../../shared/wire/times.ts';
import { asPart, type Member, tarOf } from '../../helpers/tar-build.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../../helpers/trees.ts';

// stored: held in memory like buffered, in a frame of raw blocks (a part of jars), which
// extraction reads without a decoder.
type Mode = 'streamed' | 'buffered' | 'stored';

/** Extracts members into <base>/root (through either extraction path); <base>/outside sits next to it, to catch escapes. */
async function extract(t: { teardown: (fn: () => void) => void }, tar: Buffer, rawSize?: number, mode: Mode = 'streamed', entries?: number): Promise<{ root: string; outside: string; run: Promise<void> }> {
  const base = tempDir(t, 'hostile');
  const root = join(base, 'root');
  const outside = join(base, 'outside');
  mkdirSync(root);
  mkdirSync(outside);
  const part = asPart(tar, rawSize, entries, mode === 'stored');
  const run = (async () => finishTree(root, [mode !== 'streamed' ? extractPartBuffer(part.bytes, part.ref, root) : await extractPart(Readable.from([part.bytes]), part.ref, root)]))();
  return { root, outside, run };
}

const hostile: Array<[string, Member[]]> = [
  ['a ../ name', [{ path: '../outside/evil', content: 'x' }]],
  ['a nested ../ name', [{ path: 'a/../../outside/evil', content: 'x' }]],
  ['an absolute name', [{ path: '/tmp/larder-evil-absolute', content: 'x' }]],
  ['a symlink, then a file through it', [{ path: 'link', type: 'SymbolicLink', linkpath: '../outside' }, { path: 'link/evil', content: 'x' }]],
  ['a symlink to an absolute folder, then a file under it', [{ path: 'abs', type: 'SymbolicLink', linkpath: '/tmp' }, { path: 'abs/larder-evil', content: 'x' }]],
  ['a file, then a symlink over its folder', [{ path: 'dir/file', content: 'x' }, { path: 'dir', type: 'SymbolicLink', linkpath: '../outside' }]],
  ['a symlink below another symlink', [{ path: 'l1', type: 'SymbolicLink', linkpath: '../outside' }, { path: 'l1/l2', type: 'SymbolicLink', linkpath: 'x' }]],
  ['a hard link out of the tree', [{ path: 'h', type: 'Link', linkpath: '../outside/secret' }]],
  ['a hard link to an absent entry', [{ path: 'h', type: 'Link', linkpath: 'nothing-here' }]],
  ['a hard link to a symlink', [{ path: 's', type: 'SymbolicLink', linkpath: '/etc/passwd' }, { path: 'h', type: 'Link', linkpath: 's' }]],
  ['a character device', [{ path: 'dev', type: 'CharacterDevice' }]],
  ['a block device', [{ path: 'blk', type: 'BlockDevice' }]],
  ['a FIFO', [{ path: 'fifo', type: 'FIFO' }]],
  ['a duplicate file', [{ path: 'same', content: 'a' }, { path: 'same', content: 'b' }]],
  ['names that collide after normalisation', [{ path: 'a/./b', content: 'a' }, { path: 'a//b', content: 'b' }]],
  ['a file and a folder of one name', [{ path: 'x', content: 'file' }, { path: 'x/', type: 'Directory' }]],
];

for (const mode of ['streamed', 'buffered', 'stored'] as const) {
  for (const [name, members] of hostile) {
    t.test(`${mode}: refuses ${name}, and writes nothing outside`, async (t) => {
      const { run, outside } = await extract(t, tarOf(members), undefined, mode);
      await t.rejects(run, { code: 'LARDER_UNSAFE_ARCHIVE' });
      t.same(readdirSync(outside), [], 'nothing outside the target');
      t.notOk(existsSync('/tmp/larder-evil-absolute') || existsSync('/tmp/larder-evil'), 'nothing in /tmp');
    });
  }

  t.test(`${mode}: caps: more members than declared, a member larger than its part`, async (t) => {
    const two = tarOf([{ path: 'a', content: 'a' }, { path: 'b', content: 'b' }]);
    await t.rejects((await extract(t, two, undefined, mode, 1)).run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /more than its declared 1 members/ });
    const huge = tarOf([{ path: 'huge', content: 'tiny', size: 10 * 1024 ** 3 }], { end: false });
    await t.rejects((await extract(t, huge, undefined, mode)).run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /declares 10737418240 bytes/ });
  });
}

t.test('buffered: a corrupted part is refused before anything is written', async (t) => {
  const base = tempDir(t);
  const part = asPart(tarOf([{ path: 'f', content: 'x' }]));
  part.bytes.writeUInt8(part.bytes.readUInt8(5) ^ 1, 5);
  t.throws(() => extractPartBuffer(part.bytes, part.ref, base), { code: 'LARDER_INTEGRITY' });
  t.same(readdirSync(base), [], 'nothing written');
});

t.test('refuses a part that expands past its declared size (a bomb), on every path', async (t) => {
  const tar = tarOf([{ path: 'zeros', content: Buffer.alloc(5_000_000) }]);
  for (const mode of ['streamed', 'buffered', 'stored'] as const) {
    const { run } = await extract(t, tar, 100_000, mode);
    await t.rejects(run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /expands past|declares/ }, mode);
  }
});

t.test('refuses a truncated archive and corrupt headers', async (t) => {
  const whole = tarOf([{ path: 'f', content: Buffer.alloc(4000, 1) }]);
  const cut = await extract(t, whole.subarray(0, 2048));
  await t.rejects(cut.run, { code: 'LARDER_UNSAFE_ARCHIVE' });
  const corrupt = Buffer.from(whole);
  corrupt[10] = 0x41; // breaks the checksum
  const bad = await extract(t, corrupt);
  await t.rejects(bad.run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /checksum/ });
});

t.test('strips setuid and setgid bits, keeps a venv-style absolute symlink as a link', async (t) => {
  const { root, run } = await extract(t, tarOf([
    { path: 'bin/suid', content: '#!/bin/sh\n', mode: 0o4755 },
    { path: 'bin/python3', type: 'SymbolicLink', linkpath: '/usr/bin/python3' },
  ]));
  await run;
  const [python, suid] = snapshotTree(root).filter((e) => e.rel.startsWith('bin/'));
  t.equal(suid?.mode, 0o755);
  t.match(python, { type: 'symlink', target: '/usr/bin/python3' });
});

for (const format of ['gnu', 'pax', 'ustar']) {
  t.test(`reads archives GNU tar writes (--format=${format})`, async (t) => {
    const src = tempDir(t);
    buildSampleTree(src);
    if (format === 'ustar') execFileSync('rm', ['-rf', join(src, 'deep'), join(src, 'unicode')]); // ustar cannot hold them
    const tar = execFileSync('tar', ['-cf', '-', `--format=${format}`, '-C', src, '.'], { maxBuffer: 64 << 20 });
    const { root, run } = await extract(t, tar);
    await run;
    t.same(snapshotTree(root), snapshotTree(src));
    t.equal(readFileSync(join(root, 'bin/tool'), 'utf8'), '#!/bin/sh\necho tool\n');
  });
}

t.test('times beside a part are applied to its members in order, and must number exactly its members', async (t) => {
  const tar = tarOf([{ path: 'a.js', content: 'a' }, { path: 'lib', type: 'Directory' }, { path: 'lib/b.js', content: 'b' }]);
  for (const mode of ['streamed', 'buffered'] as const) {
    const root = tempDir(t, `times-${mode}`);
    const part = asPart(tar, tar.length, 3);
    part.ref.times = encodeTimes([1_600_000_000, 1_500_000_000, 1_400_000_000]);
    finishTree(root, [mode === 'buffered' ? extractPartBuffer(part.bytes, part.ref, root) : await extractPart(Readable.from([part.bytes]), part.ref, root)]);
    t.same(
      snapshotTree(root).map((e) => [e.rel, e.mtime]),
      [['a.js', 1_600_000_000], ['lib', 1_500_000_000], ['lib/b.js', 1_400_000_000]],
      `${mode}: the manifest's times win over the headers'`,
    );
    for (const [why, times] of [['fewer', [1, 2]], ['more', [1, 2, 3, 4]]] as const) {
      const wrong = asPart(tar, tar.length, times.length);
      wrong.ref.times = encodeTimes(times);
      const into = tempDir(t, 'times-wrong');
      const run = async () => (mode === 'buffered' ? extractPartBuffer(wrong.bytes, wrong.ref, into) : extractPart(Readable.from([wrong.bytes]), wrong.ref, into));
      await t.rejects(run(), { code: 'LARDER_UNSAFE_ARCHIVE' }, `${mode}: ${why} times than members is refused`);
    }
  }
});

t.test('a part must decode to exactly its declared raw size and members, and end as a tar ends', async (t) => {
  const honest = tarOf([{ path: 'a.js', content: 'a'.repeat(3000) }, { path: 'b.js', content: 'b' }]);
  for (const mode of ['streamed', 'buffered'] as const) {
    // A truncated zstd frame, published with the digest of what was stored.
    const part = asPart(honest);
    const truncated = part.bytes.subarray(0, part.bytes.length - 6);
    const ref = { ...part.ref, digest: sha256Digest(truncated), size: truncated.length };
    const root = tempDir(t, 'frames');
    const run = async () => (mode === 'buffered' ? extractPartBuffer(truncated, ref, root) : extractPart(Readable.from([truncated]), ref, root));
    await t.rejects(run(), { code: 'LARDER_UNSAFE_ARCHIVE' }, `${mode}: a truncated frame`);
    const noEnd = honest.subarray(0, honest.length - 1024);
    await t.rejects((await extract(t, noEnd, undefined, mode)).run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /no end-of-archive block/ }, `${mode}: no end blocks`);
    await t.rejects((await extract(t, honest, undefined, mode, 3)).run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /holds 2 members, but its manifest declares 3/ }, `${mode}: fewer members than declared`);
    await t.rejects((await extract(t, honest, honest.length + 512, mode)).run, { code: 'LARDER_UNSAFE_ARCHIVE', message: /decompressed to \d+ bytes, but its manifest declares/ }, `${mode}: less output than declared`);
  }
});

t.test('names in messages are quoted: a newline cannot start a line of its own (a CI workflow command)', async (t) => {
  const evil = 'x\n::error title=owned::pwned';
  const tar = tarOf([{ path: evil, content: 'a' }, { path: evil, content: 'b' }]);
  const err = await (await extract(t, tar)).run.then(() => undefined, (e: Error) => e);
  t.match(err, { code: 'LARDER_UNSAFE_ARCHIVE', message: /appears twice/ });
  t.notMatch(err?.message ?? '', /\n/, 'no raw newline in the message');
});
