import t from 'tap';
import { Header } from 'tar/header';
import { Parser } from 'tar/parse';
import { fitsShortHeader, headerBlocks, writeShortHeader } from '../../client/tar-header.ts';
import type { TreeEntry, TreeEntryType } from '../../client/tree.ts';

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
    mtime: new Date(Math.floor(entry.mtimeMs / 1000) * 1000),
    type: names[entry.type],
    linkpath: entry.link,
    uname: '',
    gname: '',
  }).encode(block, 0);
  return block;
}

const entry = (type: TreeEntryType, rel: string, extra: Partial<TreeEntry> = {}): TreeEntry => ({ rel, type, mode: 0o644, mtimeMs: 1_700_000_000_123, size: 0, ...extra });

t.test('short headers are byte-identical to node-tar for every type, mode, size and time', async (t) => {
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
    entry('file', `${'deep/'.repeat(40)}file.js`),
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

t.test('headerBlocks gives a short entry one block, the same as writeShortHeader', async (t) => {
  const e = entry('file', 'pkg/package.json', { size: 99 });
  const blocks = headerBlocks(e);
  t.equal(blocks.length, 1);
  t.same(blocks[0], nodeTarHeader(e));
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
