import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { zstdDecompressSync } from 'node:zlib';
import t from 'tap';
import { finishTree } from '../../../client/archive/finish-tree.ts';
import { IN_MEMORY_RAW_LIMIT, packPart, packPartStreaming } from '../../../client/archive/pack.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { planParts } from '../../../client/archive/parts.ts';
import { CHUNK_BYTES, tarBuffer, tarChunks } from '../../../client/archive/tar-write.ts';
import { keptMemory } from '../../../client/spare-memory.ts';
import { walkTree } from '../../../client/archive/tree.ts';
import { extractPart } from '../../../client/archive/unpack.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../../helpers/trees.ts';

t.test('a tree packed into parts and extracted again is the same tree', async (t) => {
  const src = tempDir(t, 'pack-src');
  buildSampleTree(src);
  const out = tempDir(t, 'pack-out');
  const tree = walkTree(src);
  const parts = await Promise.all(planParts(tree.entries).map((entries) => packPart(src, entries, 3, tempDir(t))));
  const results = [];
  for (const part of parts.reverse()) results.push(await extractPart(Readable.from(part.bytes ?? []), part.ref, out)); // any order works
  finishTree(out, results);
  t.same(snapshotTree(out), snapshotTree(src), 'content, modes, mtimes, symlinks and hard links survive');
  const hard = snapshotTree(out).filter((e) => e.inodeGroup);
  t.same(hard.map((e) => e.rel), ['lib/hardlink.js', 'lib/index.js'], 'the hard link is still one inode');
});

t.test('packing is deterministic and rawSize is exact', async (t) => {
  const src = tempDir(t);
  buildSampleTree(src);
  const entries = walkTree(src).entries;
  const a = await packPart(src, entries, 3, tempDir(t));
  const b = await packPart(src, entries, 3, tempDir(t));
  t.equal(a.ref.digest, b.ref.digest, 'same files, same bytes: parts dedupe');
  const tarFile = join(tempDir(t), 'part.tar');
  execFileSync('sh', ['-c', `zstd -dc > ${tarFile}`], { input: a.bytes as Buffer });
  t.equal(execFileSync('stat', ['-c', '%s', tarFile]).toString().trim(), String(a.ref.rawSize));
});

t.test('each part is a standard tar that GNU tar reads', async (t) => {
  const src = tempDir(t);
  buildSampleTree(src);
  const part = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  const listing = execFileSync('sh', ['-c', 'zstd -dc | tar -tvf -'], { input: part.bytes as Buffer }).toString();
  t.match(listing, /lib\/index\.js link to lib\/hardlink\.js/, 'the later name links to the first (byte order)');
  t.match(listing, /bin\/python3 -> \/usr\/bin\/python3/);
  t.match(listing, /häßlich-文字-🙂\.txt/);
  t.match(listing, /x{80}\.js/);
  const gnuOut = tempDir(t);
  execFileSync('sh', ['-c', `zstd -dc | tar -xf - -C ${gnuOut}`], { input: part.bytes as Buffer });
  t.same(
    snapshotTree(gnuOut).map(({ rel, type, content, target }) => ({ rel, type, content, target })),
    snapshotTree(src).map(({ rel, type, content, target }) => ({ rel, type, content, target })),
  );
});

t.test('a streamed part goes to a file in the spill folder, not memory, and that file is the part', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'random.bin'), randomBytes(200_000));
  const entries = walkTree(src).entries;
  const spill = tempDir(t);
  const part = await packPartStreaming(src, entries, 3, spill);
  t.equal(part.bytes, undefined, 'nothing kept in memory');
  t.equal(dirname(part.file as string), spill);
  const bytes = readFileSync(part.file as string);
  t.equal(bytes.length, part.ref.size);
  t.equal(sha256Digest(bytes), part.ref.digest);
  const out = tempDir(t);
  finishTree(out, [await extractPart(Readable.from([bytes]), part.ref, out)]);
  t.same(snapshotTree(out).map((e) => e.content), snapshotTree(src).map((e) => e.content));
  const gone = tempDir(t);
  rmSync(join(src, 'random.bin'));
  await t.rejects(packPartStreaming(src, entries, 3, gone), { code: 'LARDER_PATH_UNREADABLE' });
  t.same(readdirSync(gone), [], 'a part that failed leaves no file behind');
});

t.test('a file that shrinks while it is saved fails the part', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'f'), Buffer.alloc(5000, 1));
  const entries = walkTree(src).entries;
  writeFileSync(join(src, 'f'), Buffer.alloc(10, 1));
  await t.rejects(packPart(src, entries, 3, tempDir(t)), { code: 'LARDER_PATH_UNREADABLE', message: /f shrank/ });
});

t.test('the in-memory tar is byte-identical to the streamed one, pax headers included', async (t) => {
  const src = tempDir(t);
  buildSampleTree(src);
  utimesSync(join(src, 'lib/empty.txt'), new Date('1960-01-01T00:00:00Z'), new Date('1960-01-01T00:00:00Z')); // needs pax
  const entries = walkTree(src).entries;
  t.ok(tarBuffer(src, entries).equals(Buffer.concat([...tarChunks(src, entries)])));
});

t.test('a tar built in dirty, reused memory is byte-identical to one built in fresh memory', async (t) => {
  const src = tempDir(t);
  buildSampleTree(src);
  writeFileSync(join(src, 'odd-size.bin'), randomBytes(1234)); // content ends mid-block: padding must be zeroed
  const entries = walkTree(src).entries;
  const fresh = tarBuffer(src, entries);
  t.ok(tarBuffer(src, entries, (size) => Buffer.alloc(size, 0xff)).equals(fresh), 'garbage in memory never reaches the tar');
  const memory = keptMemory();
  const bigger = tarBuffer(src, entries, memory);
  const first = tarBuffer(src, entries.slice(0, 3), memory);
  t.ok(first.equals(tarBuffer(src, entries.slice(0, 3))), 'a smaller part after a bigger one in the same memory');
  t.equal(first.buffer, bigger.buffer, 'the memory was reused');
});

t.test('tar chunks filled in dirty, reused memory are the tar, files straddling their edges', async (t) => {
  const src = tempDir(t);
  buildSampleTree(src);
  for (const [name, size] of [['a.bin', 1_572_864], ['b.bin', 3 * 1024 * 1024 + 7], ['c.bin', 700_001]] as const) writeFileSync(join(src, name), randomBytes(size));
  const entries = walkTree(src).entries;
  const dirty = [Buffer.alloc(CHUNK_BYTES, 0xff), Buffer.alloc(CHUNK_BYTES, 0xee)];
  let turn = 0;
  const chunks: Buffer[] = [];
  for (const chunk of tarChunks(src, entries, () => (dirty[turn++ % 2] as Buffer).fill(0xdd))) chunks.push(Buffer.from(chunk)); // taken before the next
  t.ok(chunks.slice(0, -1).every((c) => c.length === CHUNK_BYTES), 'whole chunks but the last');
  t.ok(Buffer.concat(chunks).equals(tarBuffer(src, entries)), 'garbage in memory never reaches the tar');
});

t.test('a streamed part read through two buffers in turn holds exactly the tar', async (t) => {
  const src = tempDir(t);
  for (let i = 0; i < 4; i++) writeFileSync(join(src, `lib-${i}.so`), Buffer.concat([randomBytes(900_000), Buffer.alloc(900_000 + i * 4099, i)]));
  const entries = walkTree(src).entries;
  const part = await packPartStreaming(src, entries, 3, tempDir(t));
  const tar = zstdDecompressSync(readFileSync(part.file as string));
  t.ok(tar.equals(tarBuffer(src, entries)), 'every chunk reached zstd before its buffer was read into again');
  t.equal(part.ref.rawDigest, sha256Digest(tar));
});

t.test('a file that vanishes before it is packed fails the part with LARDER_PATH_UNREADABLE', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'gone.js'), 'soon gone');
  const entries = walkTree(src).entries;
  rmSync(join(src, 'gone.js'));
  await t.rejects(packPart(src, entries, 3, tempDir(t)), { code: 'LARDER_PATH_UNREADABLE', message: 'gone.js could not be read (ENOENT)' });
  await t.rejects(packPartStreaming(src, entries, 3, tempDir(t)), { code: 'LARDER_PATH_UNREADABLE' }, 'the streaming path too');
});

t.test('a part too big for memory is recognised by its tar bytes too, without compressing it', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'big.bin'), Buffer.alloc(IN_MEMORY_RAW_LIMIT + 1024, 3));
  const entries = walkTree(src).entries;
  const streamed = await packPartStreaming(src, entries, 3, tempDir(t));
  const known = await packPart(src, entries, 3, tempDir(t), undefined, new Set([streamed.ref.rawDigest as string]));
  t.same(known, { known: { rawDigest: streamed.ref.rawDigest, times: streamed.ref.times } });
  const unknown = await packPart(src, entries, 3, tempDir(t), undefined, new Set(['sha256:' + '0'.repeat(64)]));
  t.same('ref' in unknown && unknown.ref, streamed.ref, 'another digest: compressed as ever');
});
