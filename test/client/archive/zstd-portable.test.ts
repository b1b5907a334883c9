import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { buffer } from 'node:stream/consumers';
import { constants, zstdCompressSync, zstdDecompressSync } from 'node:zlib';
import t from 'tap';
import { type ZstdCodec, ZstdOutputTooLarge } from '../../../client/archive/zstd.ts';
import { internalsOf, loadPortableZstd } from '../../../client/archive/zstd-portable.ts';
import { Zstd } from '@hpcc-js/wasm-zstd';

// The codec Node 20 uses, checked here against node:zlib's: each restores what the other
// saved, a bomb stops at the limit, a frame asking for a huge window is refused.

const sample = (size: number): Buffer => {
  // compressible but not trivial: repeated random words
  const words = Array.from({ length: 256 }, () => randomBytes(6).toString('hex'));
  const out = Buffer.alloc(size);
  let at = 0;
  while (at < size) at += out.write(`${words[(at * 7919) % words.length]} `, at);
  return out;
};
const native = {
  compress: (data: Buffer, level = 3) => zstdCompressSync(data, { params: { [constants.ZSTD_c_compressionLevel]: level } }),
  decompress: (data: Buffer) => zstdDecompressSync(data),
};
const through = async (stream: NodeJS.ReadWriteStream, data: Buffer, chunk = 64 * 1024): Promise<Buffer> => {
  const chunks = Array.from({ length: Math.ceil(data.length / chunk) }, (_, i) => data.subarray(i * chunk, (i + 1) * chunk));
  return buffer(Readable.from(chunks).pipe(stream as unknown as NodeJS.WritableStream) as unknown as Readable);
};

t.test('what either codec compresses, the other restores; streams make one frame', async (t) => {
  const portable: ZstdCodec = await loadPortableZstd();
  for (const size of [0, 1, 1000, 4 * 1024 * 1024 + 17]) {
    const data = sample(size);
    t.same(native.decompress(portable.compress(data, 3)), data, `portable → node:zlib, ${size} bytes`);
    t.same(portable.decompress(native.compress(data), size), data, `node:zlib → portable, ${size} bytes`);
    const pieces: Buffer[] = [];
    t.equal(portable.decompressInPieces(native.compress(data), size, (piece) => void pieces.push(Buffer.from(piece))), size, 'in pieces, it says how many bytes');
    t.same(Buffer.concat(pieces), data, `node:zlib → portable in pieces (one, whole), ${size} bytes`);
    const streamed = await through(portable.compressStream(3), data);
    t.same(native.decompress(streamed), data, `a portable stream is one frame node:zlib reads whole, ${size} bytes`);
    t.same(await through(portable.decompressStream(), native.compress(data), 1000), data, `portable stream decoding, ${size} bytes`);
  }
});

t.test('streams compressing at once in one thread take turns and stay separate', async (t) => {
  const portable = await loadPortableZstd();
  const a = sample(3 * 1024 * 1024);
  const b = randomBytes(2 * 1024 * 1024);
  const [ca, cb] = await Promise.all([through(portable.compressStream(3), a), through(portable.compressStream(1), b)]);
  t.same(native.decompress(ca), a);
  t.same(native.decompress(cb), b);
});

t.test('a bomb stops at the limit; a huge window, a truncated frame and garbage are refused', async (t) => {
  const portable = await loadPortableZstd();
  const bomb = native.compress(Buffer.alloc(64 * 1024 * 1024));
  t.throws(() => portable.decompress(bomb, 1024 * 1024), { message: 'past the limit' }, 'stops at 1 MiB, not 64');
  try {
    portable.decompress(bomb, 1024 * 1024);
  } catch (err) {
    t.ok(err instanceof ZstdOutputTooLarge, 'as ZstdOutputTooLarge');
  }
  // A frame header asking for a 1 GiB window (window descriptor exponent 20: 2^(10+20)).
  const header = Buffer.from([0x28, 0xb5, 0x2f, 0xfd, 0x00, 20 << 3]);
  const huge = Buffer.concat([header, Buffer.from([0x01, 0x00, 0x00])]); // one empty raw last block
  t.throws(() => portable.decompress(huge, 1024), /window/, 'a window over 2^27 is refused');
  const whole = native.compress(sample(100_000));
  const truncated = whole.subarray(0, whole.length - 100);
  t.throws(() => portable.decompress(truncated, 100_000), 'a truncated frame fails');
  t.throws(() => portable.decompress(randomBytes(1000), 100_000), 'garbage fails');
});

t.test('a frame is copied out of the wasm heap once, into the memory the caller gives', async (t) => {
  // The wrapper's own calls copy a frame through a JavaScript array (4.6× the time of a
  // part, and a 32 MB array per 4 MiB part): the codec reads its heap instead, so the
  // pinned wrapper must keep the shape it reads.
  t.ok(internalsOf(await Zstd.load()), 'the pinned @hpcc-js/wasm-zstd has the heap, malloc and calls the codec uses');
  const portable = await loadPortableZstd();
  const data = sample(4 * 1024 * 1024);
  const given: Buffer[] = [];
  const frame = portable.compress(data, 3, (size) => {
    const memory = Buffer.alloc(size);
    given.push(memory);
    return memory;
  });
  t.equal(given.length, 1, 'asked for memory once');
  t.equal(frame, given[0], 'the frame is that memory');
  t.same(native.decompress(frame), data, 'and a whole frame');
  t.same(frame, native.compress(data), 'the same bytes node:zlib writes in one pass');
});

t.test('a frame decodes to exactly the most allowed, not a byte more; parts decode one after another', async (t) => {
  const portable = await loadPortableZstd();
  const a = sample(1024 * 1024);
  const b = sample(3 * 1024 * 1024 + 5);
  t.same(portable.decompress(native.compress(a), a.length), a, 'exactly at the limit');
  const past = (() => {
    try {
      portable.decompress(native.compress(a), a.length - 1);
    } catch (err) {
      return err;
    }
  })();
  t.ok(past instanceof ZstdOutputTooLarge, 'one byte past it is too large');
  t.same(Buffer.from(portable.decompress(native.compress(b), b.length)), b, 'a bigger part after a smaller one');
  t.same(Buffer.from(portable.decompress(native.compress(a), b.length)), a, 'and a smaller one after it, in a larger limit');
  const two = Buffer.concat([native.compress(a), native.compress(b)]);
  t.same(Buffer.from(portable.decompress(two, a.length + b.length)), Buffer.concat([a, b]), 'two frames one after the other, as node:zlib reads them');
});
