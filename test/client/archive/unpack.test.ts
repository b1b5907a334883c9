import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import t, { type Test } from 'tap';
import { finishTree } from '../../../client/archive/finish-tree.ts';
import { type PackedPart, packPart } from '../../../client/archive/pack.ts';
import { walkTree } from '../../../client/archive/tree.ts';
import { extractPartBuffer, fitsInMemory, IN_MEMORY_PART_LIMIT, readPart } from '../../../client/archive/unpack.ts';
import { DECODE_PIECE_BYTES, zstd } from '../../../client/archive/zstd.ts';
import type { PartRef } from '../../../shared/wire/manifest.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { snapshotTree } from '../../helpers/trees.ts';
import { wordyText } from '../../helpers/text.ts';

// readPart: a download read whole, never past the part's declared size. The hostile
// parts, on every path, are in tar-read.test.ts.

const ref = (size: number): PartRef => ({ digest: `sha256:${'a'.repeat(64)}`, size, rawSize: size, entries: 1 });
const chunks = (data: Buffer, size = 65_536): Buffer[] => Array.from({ length: Math.ceil(data.length / size) }, (_, i) => data.subarray(i * size, (i + 1) * size));

t.test('a download of the declared size comes back whole, however it is chunked', async (t) => {
  const data = randomBytes(300_000);
  t.same(await readPart(Readable.from(chunks(data)), ref(data.length)), data);
  t.same(await readPart(Readable.from(chunks(data, 7)), ref(data.length)), data);
});

t.test("a socket's chunks are freed as they are copied; anyone else's are left as they were", async (t) => {
  const data = randomBytes(300_000);
  for (const socketChunks of [true, false]) {
    const own = chunks(data).map((c) => Buffer.from(c)); // each chunk its own memory, as a socket's reads are
    t.same(await readPart(Readable.from(own), ref(data.length), undefined, socketChunks), data, 'the part, whole');
    const freed = own.filter((c) => c.buffer.byteLength === 0).length;
    t.equal(freed, socketChunks ? own.length : 0, socketChunks ? 'every chunk freed' : 'none freed');
  }
});

t.test('more bytes than declared are refused as they arrive', async (t) => {
  const data = randomBytes(200_000);
  const body = Readable.from(chunks(data));
  await t.rejects(readPart(body, ref(100_000)), { code: 'LARDER_INTEGRITY', message: /longer than its 100000 bytes/ });
  t.ok(body.destroyed, 'and the download is stopped');
});

t.test('a download that breaks off fails', async (t) => {
  const body = new Readable({ read() {} });
  const read = readPart(body, ref(1000));
  body.push(Buffer.alloc(400));
  setTimeout(() => body.destroy(new Error('socket hang up')), 10);
  await t.rejects(read, /socket hang up/);
});

t.test('a part declared too big for memory is not read into memory at all', async (t) => {
  const body = Readable.from([Buffer.alloc(10)]);
  await t.rejects(readPart(body, ref(IN_MEMORY_PART_LIMIT + 1)), { code: 'LARDER_UNSAFE_ARCHIVE' });
});

t.test('a stored part (jars) is written from its download without the zstd decoder', async (t) => {
  const src = tempDir(t);
  mkdirSync(join(src, 'lib'));
  for (let i = 0; i < 5; i++) writeFileSync(join(src, 'lib', `dep-${i}.jar`), randomBytes(100_000 + i * 70_000));
  const part = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  t.equal(part.ref.rawDigest, undefined, 'the part was stored');
  extractsWithoutWholeDecoding(t, src, part, 5);
});

/** Extracts a part with the codec's whole-part decoder forbidden: its files must come back all the same. */
function extractsWithoutWholeDecoding(t: Test, src: string, part: PackedPart, files: number): void {
  const codec = zstd();
  const decompress = codec.decompress;
  codec.decompress = () => {
    throw new Error('decoded whole');
  };
  try {
    const out = tempDir(t);
    const result = extractPartBuffer(part.bytes as Buffer, part.ref, out);
    t.equal(result.files, files);
    finishTree(out, [result]); // the folder's time, as a restore sets it (else it is the extraction's, a second later at times)
    t.same(snapshotTree(out), snapshotTree(src), 'the same files, byte for byte');
  } finally {
    codec.decompress = decompress;
  }
}

t.test("parts decode one after another into the memory the codec keeps: each part's files are its own, and nothing frees that memory", async (t) => {
  // A bigger part, then a smaller one over the same memory, then the first again.
  const trees = [50_000, 3_000].map((lines, i) => {
    const src = tempDir(t, `src-${i}`);
    writeFileSync(join(src, 'index.js'), `module.exports = ${i};\n`.repeat(lines));
    writeFileSync(join(src, `only-${i}.txt`), `part ${i}\n`);
    return src;
  });
  const parts = await Promise.all(trees.map(async (src) => packPart(src, walkTree(src).entries, 3, tempDir(t))));
  t.ok(parts.every((part) => typeof part.ref.rawDigest === 'string'), 'compressed, not stored');
  const proto = ArrayBuffer.prototype as ArrayBuffer & { transfer: (length?: number) => ArrayBuffer };
  const transfer = proto.transfer;
  const freed: number[] = [];
  proto.transfer = function (this: ArrayBuffer, length?: number) {
    if (length === 0) freed.push(this.byteLength);
    return transfer.call(this, length);
  };
  t.teardown(() => void (proto.transfer = transfer));
  for (const i of [0, 1, 0]) {
    const out = tempDir(t);
    extractPartBuffer(parts[i]?.bytes as Buffer, (parts[i] as (typeof parts)[number]).ref, out);
    t.same(snapshotTree(out), snapshotTree(trees[i] as string), `part ${i}: its files, byte for byte`);
  }
  proto.transfer = transfer;
  t.same(freed, [], 'the decoded tars were not freed (the next part decodes into their memory)');
});

t.test('a compressed part is written a piece at a time, files straddling the pieces: no memory the size of its tar', async (t) => {
  const src = tempDir(t);
  mkdirSync(join(src, 'lib'));
  // ~5 MiB of text in files of odd sizes, so headers and contents fall across the 1 MiB pieces.
  for (let i = 0; i < 9; i++) writeFileSync(join(src, 'lib', `mod-${i}.js`), wordyText(600_000 + i * 7_919, i));
  const part = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  t.ok(part.ref.rawDigest && part.ref.rawSize > 4 * DECODE_PIECE_BYTES, 'compressed, several pieces long');
  extractsWithoutWholeDecoding(t, src, part, 9);
});

t.test("a big file's part whose download fits in memory takes the fast path, its tar decoded a piece at a time however big", async (t) => {
  const src = tempDir(t);
  // A native binary's worth: a tar over the in-memory limit that compresses far under it.
  const binary = Buffer.alloc(IN_MEMORY_PART_LIMIT + 3 * DECODE_PIECE_BYTES);
  for (let i = 0; i < binary.length; i += 4096) randomBytes(64).copy(binary, i);
  writeFileSync(join(src, 'next-swc.node'), binary);
  const streamed = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  t.ok(streamed.file && streamed.ref.rawSize > IN_MEMORY_PART_LIMIT && streamed.ref.size < IN_MEMORY_PART_LIMIT, 'packed as a big file, compressed under the limit');
  t.ok(fitsInMemory(streamed.ref), 'held in memory');
  extractsWithoutWholeDecoding(t, src, { ref: streamed.ref, bytes: readFileSync(streamed.file as string) }, 1);
  t.notOk(fitsInMemory({ ...streamed.ref, size: IN_MEMORY_PART_LIMIT + 1 }), 'a download over the limit streams');

  // Where the codec decodes a part whole (the portable one, on Node 20), its tar must fit too.
  const codec = zstd();
  const pieces = Object.getOwnPropertyDescriptor(codec, 'decodesInPieces') as PropertyDescriptor;
  Object.defineProperty(codec, 'decodesInPieces', { value: false, configurable: true });
  t.teardown(() => void Object.defineProperty(codec, 'decodesInPieces', pieces));
  t.notOk(fitsInMemory(streamed.ref), 'streamed where the codec decodes whole');
  t.ok(fitsInMemory({ ...streamed.ref, rawSize: IN_MEMORY_PART_LIMIT }), 'a tar up to the limit is held in memory either way');
});

t.test('a part that cannot be written fails with why, not as bad zstd', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'a.txt'), 'text\n'.repeat(100_000));
  const part = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  const tooLong = join(tempDir(t), ...Array.from({ length: 21 }, () => 'x'.repeat(200))); // past PATH_MAX
  t.throws(() => extractPartBuffer(part.bytes as Buffer, part.ref, tooLong), { code: 'ENAMETOOLONG' }, 'the file system\'s error, as it came');
});
