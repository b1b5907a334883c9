import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import t from 'tap';
import { packPart, type PartMemory } from '../../../client/archive/pack.ts';
import { storedBlocks, storedFrame, storedFrameOf, storedPieces, storedSize, worthCompressing } from '../../../client/archive/stored.ts';
import { walkTree } from '../../../client/archive/tree.ts';
import { loadPortableZstd } from '../../../client/archive/zstd-portable.ts';
import { ownMemory } from '../../../shared/own-memory.ts';
import { tempDir } from '../../helpers/tmp.ts';

// Stored parts are plain zstd frames of raw blocks: every decoder a restore may use
// (node:zlib, the Node 20 codec, the zstd command) reads them back byte for byte.

t.test('a stored frame decodes to its bytes in node:zlib, the portable codec and the zstd command', async (t) => {
  const portable = await loadPortableZstd();
  const dir = tempDir(t);
  for (const size of [0, 1, 128 * 1024, 128 * 1024 + 1, 3 * 1024 * 1024 + 5]) {
    const data = randomBytes(size);
    const frame = storedFrame(data);
    t.equal(frame.length, storedSize(size), `${size} bytes: the size storedSize promised`);
    t.same(zstdDecompressSync(frame), data, `node:zlib, ${size} bytes`);
    t.same(portable.decompress(frame, size), data, `portable, ${size} bytes`);
    const file = join(dir, `${size}.zst`);
    writeFileSync(file, frame);
    t.same(execFileSync('zstd', ['-dc', file], { maxBuffer: 8 << 20 }), data, `zstd -dc, ${size} bytes`);
  }
});

t.test('a frame in pieces is the one storedFrame writes, its blocks where the tar was read, unmoved', async (t) => {
  for (const size of [0, 1, 128 * 1024, 128 * 1024 + 1, 3 * 1024 * 1024 + 5]) {
    const data = randomBytes(size);
    const memory = Buffer.alloc(storedSize(size) + 7, 0xee); // room, and bytes past it that must stay
    data.copy(memory);
    const pieces = storedPieces(memory.subarray(0, size));
    t.ok(Buffer.concat(pieces).equals(storedFrame(data)), `${size} bytes: the same frame`);
    t.ok(pieces.every((piece) => piece.buffer === memory.buffer), 'in the same memory');
    t.ok(memory.subarray(0, size).equals(data), 'the tar where it was');
    t.equal(memory.subarray(storedSize(size)).toString('hex'), 'ee'.repeat(7), 'nothing written past the frame');
  }
  t.throws(() => storedPieces(Buffer.allocUnsafeSlow(300_000)), RangeError, 'no room after the tar: refused, nothing written past the memory');
});

t.test('a frame made as its tar comes, in chunks of whole blocks, is the one storedFrame writes', async (t) => {
  const chunked = (data: Buffer, bytes: number) => Array.from({ length: Math.ceil(data.length / bytes) }, (_, i) => data.subarray(i * bytes, (i + 1) * bytes));
  for (const size of [0, 1, 128 * 1024, 128 * 1024 + 1, 1024 * 1024, 3 * 1024 * 1024 + 5]) {
    const data = randomBytes(size);
    for (const bytes of [128 * 1024, 1024 * 1024]) {
      const made = [...storedFrameOf(chunked(data, bytes), size)];
      t.ok(Buffer.concat(made.flat()).equals(storedFrame(data)), `${size} bytes in chunks of ${bytes}: the same frame`);
      t.equal(made.length, Math.max(1, Math.ceil(size / bytes)), 'one yield per chunk');
      if (size > 0) t.ok(made.flat().some((piece) => piece.buffer === data.buffer), 'the blocks are views of the chunks');
    }
  }
  t.throws(() => [...storedFrameOf([randomBytes(100_000), randomBytes(100)], 100_100)], RangeError, 'a chunk short of whole blocks before the last: refused');
  t.throws(() => [...storedFrameOf([randomBytes(128 * 1024)], 128 * 1024 + 1)], RangeError, 'fewer bytes than the frame declares: refused');
  t.throws(() => [...storedFrameOf([randomBytes(10)], 5)], RangeError, 'more: refused');
});

t.test('packed with memory, a stored part leaves in its tar memory; a compressed part gives its tar memory back', async (t) => {
  const dir = tempDir(t);
  for (let i = 0; i < 4; i++) writeFileSync(join(dir, `lib-${i}.jar`), randomBytes(700_000));
  const text = tempDir(t);
  writeFileSync(join(text, 'a.txt'), Buffer.alloc(1 << 20, 'module.exports = 1\n'));
  const handed: ArrayBufferLike[] = [];
  const released: ArrayBufferLike[] = [];
  const memory: PartMemory = {
    tar: (size) => {
      const tar = Buffer.allocUnsafeSlow(storedSize(size)).subarray(0, size);
      handed.push(tar.buffer);
      return tar;
    },
    frame: (size) => Buffer.allocUnsafeSlow(size),
    release: (tar) => void released.push(tar.buffer),
  };
  const jars = await packPart(dir, walkTree(dir).entries, 3, tempDir(t), memory);
  t.equal(ownMemory(jars.bytes ?? []), handed[0], 'the stored frame is the tar memory, not a copy');
  t.same(jars.ref, (await packPart(dir, walkTree(dir).entries, 3, tempDir(t))).ref, 'the part packing without memory makes');
  t.same(released, [], 'and it is not given back: it left with the part');
  const compressed = await packPart(text, walkTree(text).entries, 3, tempDir(t), memory);
  t.ok(compressed.ref.rawDigest, 'compressed');
  t.same(released, [handed[1]], 'its tar memory is given back for the next part');
});

t.test('storedBlocks gives the bytes of a stored frame as views of it, and nothing for any other frame', async (t) => {
  for (const size of [0, 1, 128 * 1024, 128 * 1024 + 1, 3 * 1024 * 1024 + 5]) {
    const data = randomBytes(size);
    const frame = storedFrame(data);
    const blocks = storedBlocks(frame, size);
    t.same(blocks && Buffer.concat(blocks), data, `${size} bytes`);
    t.ok(blocks?.every((b) => b.buffer === frame.buffer), 'views, not copies');
  }
  const data = randomBytes(300_000);
  const frame = storedFrame(data);
  t.equal(storedBlocks(zstdCompressSync(data), data.length), undefined, 'a compressed frame');
  t.equal(storedBlocks(frame, data.length - 1), undefined, 'a frame of another size than declared');
  t.equal(storedBlocks(Buffer.concat([frame, Buffer.alloc(1)]), data.length), undefined, 'bytes after the frame');
  const rle = Buffer.from(frame);
  rle[10] = (rle[10] ?? 0) | 2; // the first block's type becomes RLE
  t.equal(storedBlocks(rle, data.length), undefined, 'a block that is not raw');
  const unended = Buffer.from(frame);
  const lastHeader = frame.length - (data.length % (128 * 1024)) - 3;
  unended[lastHeader] = (unended[lastHeader] ?? 0) & ~1;
  t.equal(storedBlocks(unended, data.length), undefined, 'no block flagged last');
  const early = Buffer.from(frame);
  early[10] = (early[10] ?? 0) | 1;
  t.equal(storedBlocks(early, data.length), undefined, 'a block flagged last before the end');
});

t.test('compressed bytes are stored, text is compressed, and small buffers are always compressed', async (t) => {
  t.notOk(worthCompressing(randomBytes(4 << 20)), 'random bytes (a jar, a wheel, an image) are not worth compressing');
  t.ok(worthCompressing(Buffer.alloc(4 << 20, 'module.exports = function () { return 42 }\n')), 'source text is');
  t.ok(worthCompressing(randomBytes(64 * 1024)), 'below the sample size, always compress: it costs next to nothing');
  const mixed = Buffer.concat([randomBytes(2 << 20), Buffer.alloc(2 << 20, 'abc')]);
  t.ok(worthCompressing(mixed), 'half text is worth it');
});

t.test('a part of jars is stored: a frame GNU tar reads, its size the tar plus framing, no rawDigest', async (t) => {
  const src = tempDir(t);
  for (let i = 0; i < 6; i++) writeFileSync(join(src, `lib-${i}.jar`), randomBytes(700_000));
  writeFileSync(join(src, 'lib-0.pom'), '<project/>\n');
  const entries = walkTree(src).entries;
  const part = await packPart(src, entries, 3, tempDir(t));
  const bytes = part.bytes as Buffer;
  t.equal(part.ref.size, storedSize(part.ref.rawSize), 'stored, not compressed');
  t.equal(part.ref.rawDigest, undefined, 'recognised by its digest alone');
  const out = tempDir(t);
  execFileSync('sh', ['-c', `zstd -dc | tar -xf - -C ${out}`], { input: bytes });
  t.same(execFileSync('sh', ['-c', `cd ${out} && sha256sum * | sort`]).toString(), execFileSync('sh', ['-c', `cd ${src} && sha256sum * | sort`]).toString(), 'GNU tar extracts the same files');
  const again = await packPart(src, entries, 3, tempDir(t));
  t.equal(again.ref.digest, part.ref.digest, 'the same files make the same stored part (dedup)');
});
