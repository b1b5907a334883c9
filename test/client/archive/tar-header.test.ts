import { execFileSync } from 'node:child_process';
import t from 'tap';
import { Header } from 'tar/header';
import { Parser } from 'tar/parse';
import { fitsShortHeader, headerBlocks, readShortHeader, type ShortHeader, writeShortHeader } from '../../../client/archive/tar-header.ts';
import type { TreeEntry, TreeEntryType } from '../../../client/archive/tree.ts';

// node-tar's own encoder, as the part writer used it before the fast path: the fast path
// must give the very same bytes, or every part stored so far would stop deduping.
function nodeTarHeader(entry: TreeEntry): Buffer {
  const block = Buffer.alloc(512);
  const names = { file: 'File', hardlink: 'Link', symlink: 'SymbolicLink', dir: 'Directory' } as const;
  new Header({
    path: entry.type === 'dir' ? `${entry.rel}/` : entry.rel,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    size: entry.type === 'file' ? entry.size : 0,
    mtime: new Date(0), // times travel beside the part, whatever the file's own
    type: names[entry.type],
    linkpath: entry.link,
    uname: '',
    gname: '',
  }).encode(block, 0);
  return block;
}

const entry = (type: TreeEntryType, rel: string, extra: Partial<TreeEntry> = {}): TreeEntry => ({ rel, type, mode: 0o644, mtimeMs: 1_700_000_000_123, size: 0, ...extra });

t.test('short headers are byte-identical to node-tar for every type, mode and size, and hold no time', async (t) => {
  const entries: TreeEntry[] = [
    entry('file', 'a'),
    entry('file', 'lib/index.js', { size: 1234, mode: 0o755 }),
    entry('file', 'empty.txt', { mode: 0 }),
    entry('file', 'big.bin', { size: 0o7777777777 }), // ten octal digits
    entry('file', 'bigger.bin', { size: 0o77777777777 }), // eleven: no padding space left
    entry('file', 'old.js', { mtimeMs: 0 }),
    entry('file', 'sticky', { mode: 0o7777 }),
    entry('dir', 'node_modules/.bin', { mode: 0o755 }),
    entry('symlink', 'bin/python3', { link: '/usr/bin/python3' }),
    entry('symlink', 'long-link', { link: 'x'.repeat(100) }),
    entry('hardlink', 'lib/copy.js', { link: 'lib/index.js' }),
    entry('file', 'n'.repeat(99)),
    entry('dir', 'd'.repeat(98)),
    entry('file', 'ctrl\tname'),
  ];
  for (const e of entries) {
    t.ok(fitsShortHeader(e), `${e.rel.slice(0, 20)} fits a short header`);
    const fast = Buffer.alloc(512);
    writeShortHeader(fast, 0, e);
    t.same(fast, nodeTarHeader(e), `${e.type} ${e.rel.slice(0, 20)}: same bytes`);
    t.equal(new Header(fast).cksumValid, true, 'the checksum is valid');
  }
});

t.test('a header is written in place at any offset of a larger buffer', async (t) => {
  const buf = Buffer.alloc(3 * 512);
  const e = entry('file', 'x/y.js', { size: 7 });
  writeShortHeader(buf, 512, e);
  t.same(buf.subarray(512, 1024), nodeTarHeader(e));
  t.equal(buf.subarray(0, 512).every((b) => b === 0) && buf.subarray(1024).every((b) => b === 0), true, 'nothing outside its block');
});

t.test('long or non-ASCII names, long links and huge files take node-tar with a pax record', async (t) => {
  const cases = [
    entry('file', 'n'.repeat(100)),
    entry('dir', 'd'.repeat(99)),
    entry('file', `${'deep/'.repeat(50)}file.js`), // 257 bytes: past the prefix and name fields together
    entry('file', `${'p'.repeat(150)}/${'n'.repeat(100)}`), // no slash leaves a name under 100
    entry('file', `${'p'.repeat(160)}/${'n'.repeat(20)}`), // nor a prefix of 155 or less
    entry('file', 'häßlich.txt'),
    entry('symlink', 'link', { link: 'y'.repeat(101) }),
    entry('symlink', 'link', { link: '文字' }),
    entry('file', 'huge.bin', { size: 0o77777777777 + 1 }),
  ];
  for (const e of cases) {
    t.notOk(fitsShortHeader(e), `${e.rel.slice(0, 20)} does not fit`);
    const blocks = headerBlocks(e);
    const parsed = await parseMember(Buffer.concat([...blocks, Buffer.alloc(1024)]));
    t.equal(parsed.path, e.type === 'dir' ? `${e.rel}/` : e.rel, 'the full name survives');
    if (e.link) t.equal(parsed.linkpath, e.link, 'the full link survives');
    if (e.type === 'file') t.equal(parsed.size, e.size, 'the size survives');
  }
});

t.test('a name of 100 to 255 bytes is split at a slash into one block, which node-tar reads whole', async (t) => {
  const cases = [
    entry('file', `${'dir/'.repeat(30)}index.js`), // 128 bytes: prefix 119
    entry('file', `${'a'.repeat(140)}/${'b'.repeat(99)}`), // the longest name, 99 bytes
    entry('file', `${'a'.repeat(155)}/${'b'.repeat(10)}`), // the longest prefix, 155 bytes
    entry('file', `${'x/'.repeat(100)}y`), // many slashes: the last one that leaves a prefix of 155 or less
    entry('dir', `${'site-packages/'.repeat(9)}pkg`, { mode: 0o755 }), // a folder's trailing slash is not split at
    entry('symlink', `${'lib/'.repeat(30)}python`, { link: 'python3.11' }),
  ];
  for (const e of cases) {
    const name = e.type === 'dir' ? `${e.rel}/` : e.rel;
    t.ok(fitsShortHeader(e), `${name.length} bytes fit a short header`);
    const blocks = headerBlocks(e);
    t.equal(blocks.length, 1, 'one block, no pax record');
    const block = blocks[0] as Buffer;
    const field = (off: number, width: number) => block.toString('latin1', off, off + width).replace(/\0+$/, '');
    t.ok(field(345, 155).length <= 155 && field(0, 100).length < 100, 'prefix and name within their fields');
    t.equal(`${field(345, 155)}/${field(0, 100)}`, name, 'split at a slash');
    t.equal(readShortHeader(block)?.path, name, 'read back whole');
    t.equal((await parseMember(Buffer.concat([block, Buffer.alloc(Math.ceil(e.size / 512) * 512 + 1024)]))).path, name, 'node-tar reads the same name');
  }
  const tar = Buffer.concat([...cases.flatMap((e) => headerBlocks(e)), Buffer.alloc(1024)]);
  const listed = execFileSync('tar', ['-tf', '-'], { input: tar }).toString().split('\n').filter(Boolean);
  t.same(listed, cases.map((e) => (e.type === 'dir' ? `${e.rel}/` : e.rel)), 'and GNU tar lists the same names');
});

t.test('headerBlocks gives a short entry one block, the same as writeShortHeader', async (t) => {
  const e = entry('file', 'pkg/package.json', { size: 99 });
  const blocks = headerBlocks(e);
  t.equal(blocks.length, 1);
  t.same(blocks[0], nodeTarHeader(e));
});

/** What node-tar reads from a header, in readShortHeader's shape; undefined where it would refuse or differ in kind. */
function nodeTarReading(block: Buffer): (ShortHeader & { cksumValid: boolean }) | undefined {
  let h: Header;
  try {
    h = new Header(block);
  } catch {
    return undefined; // node-tar refuses it outright
  }
  const type = h.type as string;
  if (type !== 'File' && type !== 'Link' && type !== 'SymbolicLink' && type !== 'Directory') return undefined;
  return { path: h.path ?? '', type, mode: h.mode ?? -1, size: h.size ?? -1, mtime: (h.mtime?.getTime() ?? -1000) / 1000, linkpath: h.linkpath ?? '', cksumValid: h.cksumValid === true };
}

const shortEntries: TreeEntry[] = [
  entry('file', 'lib/index.js', { size: 1234, mode: 0o755 }),
  entry('file', 'empty.txt', { mode: 0 }),
  entry('file', 'bigger.bin', { size: 0o77777777777 }),
  entry('file', 'old.js', { mtimeMs: 0 }),
  entry('dir', 'node_modules/.bin', { mode: 0o755 }),
  entry('symlink', 'bin/python3', { link: '/usr/bin/python3' }),
  entry('symlink', 'long-link', { link: 'x'.repeat(100) }),
  entry('hardlink', 'lib/copy.js', { link: 'lib/index.js' }),
  entry('file', 'n'.repeat(99)),
  entry('file', `${'dir/'.repeat(30)}index.js`), // a prefix of 119 bytes
  entry('dir', `${'a'.repeat(140)}/${'b'.repeat(50)}`), // of 140: node-tar reads 155 bytes of prefix only when byte 130 of it is set
];

t.test('readShortHeader reads back every short header exactly as node-tar does', async (t) => {
  for (const e of shortEntries) {
    const block = Buffer.alloc(512);
    writeShortHeader(block, 0, e);
    const fast = readShortHeader(block);
    t.ok(fast, `${e.rel.slice(0, 20)} is read fast`);
    t.same({ ...fast, cksumValid: true }, nodeTarReading(block), `${e.type} ${e.rel.slice(0, 20)}: same reading`);
  }
});

t.test('headers it does not fully understand are left to node-tar', async (t) => {
  const base = Buffer.alloc(512);
  writeShortHeader(base, 0, entry('file', 'lib/index.js', { size: 10 }));
  const variant = (change: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(base);
    change(b);
    // keep the checksum right, so only the change itself can make it fall back
    b.fill(0x20, 148, 156);
    let sum = 0;
    for (const byte of b) sum += byte;
    b.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    return b;
  };
  const cases: Record<string, Buffer> = {
    'bytes after the prefix\'s NUL': variant((b) => b.write('prefix\0x', 345, 'latin1')),
    'a non-ASCII prefix': variant((b) => b.write('préfix', 345, 'utf8')),
    'GNU magic': variant((b) => b.write('ustar  \0', 257, 'latin1')),
    'a size with leading spaces': variant((b) => b.write('         12 ', 124, 'latin1')),
    'a base-256 size': variant((b) => { b.fill(0, 124, 136); b[124] = 0x80; b[135] = 10; }),
    'bytes after the name\'s NUL': variant((b) => b.write('x', 50, 'latin1')),
    'a non-ASCII name': variant((b) => b.write('é', 0, 'utf8')),
    'a file name ending in /': variant((b) => {
      b.fill(0, 0, 100);
      b.write('lib/', 0, 'latin1');
    }),
    'a base-256 uid': variant((b) => {
      b.fill(0, 108, 116);
      b[108] = 0x80;
    }),
    'a FIFO': variant((b) => (b[156] = 0x36)),
    'a bad checksum': (() => { const b = Buffer.from(base); b[0] = 0x41; return b; })(),
  };
  for (const [what, block] of Object.entries(cases)) t.equal(readShortHeader(block), undefined, what);
  t.equal(new Header(cases['a bad checksum'] as Buffer).cksumValid, false, 'and node-tar refuses the bad checksum');
});

t.test('on 20,000 mutated headers, whatever readShortHeader accepts node-tar reads the same way', async (t) => {
  let seed = 42;
  const random = (n: number): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed % n;
  };
  const interesting = [0, 0x20, 0x2f, 0x30, 0x37, 0x38, 0x41, 0x7f, 0x80, 0xff];
  let accepted = 0;
  let agreed = 0;
  for (let i = 0; i < 20_000; i++) {
    const block = Buffer.alloc(512);
    writeShortHeader(block, 0, shortEntries[random(shortEntries.length)] as TreeEntry);
    for (let k = random(3) + 1; k > 0; k--) block[random(512)] = interesting[random(interesting.length)] as number;
    // half the time, repair the checksum so the mutation itself is what is tested
    if (random(2) === 0) {
      block.fill(0x20, 148, 156);
      let sum = 0;
      for (const byte of block) sum += byte;
      block.fill(0, 148, 156);
      block.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'latin1');
    }
    const fast = readShortHeader(block);
    if (!fast) continue;
    accepted++;
    const slow = nodeTarReading(block);
    if (slow?.cksumValid && JSON.stringify({ ...fast, cksumValid: true }) === JSON.stringify(slow)) agreed++;
    else t.fail(`disagree on ${block.toString('hex')}: ${JSON.stringify(fast)} vs ${JSON.stringify(slow)}`);
  }
  t.ok(accepted > 1000, `${accepted} mutated headers were read fast`);
  t.equal(agreed, accepted, 'node-tar agreed on every one');
});

function parseMember(tar: Buffer): Promise<{ path: string; linkpath: string | undefined; size: number }> {
  return new Promise((resolve, reject) => {
    const parser = new Parser({
      onReadEntry: (member) => {
        resolve({ path: member.path, linkpath: member.linkpath, size: member.size });
        member.resume();
      },
    });
    parser.on('error', reject);
    // a header with no content after it is all the parser needs to report the member
    parser.end(tar);
  });
}
