import { randomBytes } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import t from 'tap';
import { DECODE_PIECE_BYTES, zstd, ZstdOutputTooLarge } from '../../../client/archive/zstd.ts';
import { loadPortableZstd } from '../../../client/archive/zstd-portable.ts';
import { wordyText } from '../../helpers/text.ts';

// The codec's compress keeps one zstd context per level on each thread instead of making
// one per part, and compresses a part in one pass. Its bytes must be those of one pass
// wherever it runs (a part's digest is its address, and a save recognises the parts other
// machines stored): zstdCompressSync's given room for the whole frame, and libzstd's
// one-shot compress, which the portable codec (Node 20) runs. It falls back to
// zstdCompressSync where node:zlib's internals are not what it expects.

const zlib = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
const zstdCompressSync = zlib.zstdCompressSync;
/** One pass: room for the largest frame the data can make (ZSTD_COMPRESSBOUND), and more. */
const reference = (data: Buffer, level: number): Buffer => zstdCompressSync(data, { chunkSize: data.length * 2 + 65_536, params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });

const text = wordyText;

/** Counts calls to node:zlib's functions, as this module's import of them sees them, while `run` runs. */
function counting<T>(run: () => T, replace: Partial<Record<'zstdCompressSync' | 'createZstdCompress', (...args: never[]) => unknown>> = {}): { result: T; calls: Record<string, number> } {
  const calls = { zstdCompressSync: 0, createZstdCompress: 0 };
  const originals = { zstdCompressSync: zlib.zstdCompressSync, createZstdCompress: zlib.createZstdCompress };
  // node:zlib's create functions are read-only but configurable: defined anew, and back.
  const define = (name: string, value: unknown) => Object.defineProperty(zlib, name, { value, writable: true, enumerable: true, configurable: true });
  for (const name of ['zstdCompressSync', 'createZstdCompress'] as const) {
    const original = replace[name] ?? originals[name];
    define(name, (...args: unknown[]) => {
      calls[name]++;
      return (original as (...a: unknown[]) => unknown)(...args);
    });
  }
  syncBuiltinESMExports();
  try {
    return { result: run(), calls };
  } finally {
    for (const [name, value] of Object.entries(originals)) define(name, value);
    syncBuiltinESMExports();
  }
}

t.test('a part compresses to the bytes of one pass, the portable codec\'s too, whatever its size and content', async (t) => {
  const portable = await loadPortableZstd();
  const sizes = [0, 1, 100, 16 * 1024, 20_000, 131_072, 300_000, 1024 * 1024 + 3, 3 * 1024 * 1024, 8 * 1024 * 1024];
  for (const size of sizes) {
    const kinds: Record<string, Buffer> = { text: text(size), random: randomBytes(size), zeros: Buffer.alloc(size) };
    for (const [kind, data] of Object.entries(kinds)) {
      // levels interleaved: each keeps its own context
      for (const level of [3, 1]) {
        const frame = zstd().compress(data, level);
        t.ok(frame.equals(reference(data, level)), `${kind}, ${size} bytes, level ${level}: node:zlib's one pass`);
        t.ok(frame.equals(portable.compress(data, level)), `${kind}, ${size} bytes, level ${level}: the portable codec's`);
      }
    }
  }
  const data = text(500_000);
  t.same(zlib.zstdDecompressSync(zstd().compress(data, 3)), data, 'and the frame restores the input');
});

t.test('one context serves every part of a level: no new one per part', async (t) => {
  const parts = Array.from({ length: 10 }, (_, i) => text(200_000 + i * 1000));
  const { result, calls } = counting(() => parts.map((part) => zstd().compress(part, 5)));
  t.equal(calls.createZstdCompress, 1, 'one context made, for the first part');
  t.equal(calls.zstdCompressSync, 0, 'none made per part');
  result.forEach((frame, i) => t.ok(frame.equals(reference(parts[i] as Buffer, 5)), `part ${i}: the same bytes`));
  t.ok(result.every((frame) => frame.byteOffset === 0 && frame.buffer.byteLength === frame.length), 'each frame in memory of its own (it moves between threads without a copy)');
});

t.test('a frame is written into memory it is given, of its exact size: the same bytes', async (t) => {
  const data = text(400_000, 4);
  const asked: number[] = [];
  let given = Buffer.alloc(0);
  const frame = zstd().compress(data, 3, (size) => {
    asked.push(size);
    given = Buffer.alloc(size + 4096); // more than asked, as a spare may be
    return given.subarray(0, size);
  });
  t.equal(frame.buffer, given.buffer, 'the frame is that memory');
  t.same(asked, [frame.length], 'asked once, for the frame\'s size (not the room compressing it took)');
  t.ok(frame.equals(reference(data, 3)), 'and the same frame as ever');
});

t.test('without the zlib internals it drives, it compresses as zstdCompressSync does', async (t) => {
  const data = text(300_000);
  const { result, calls } = counting(() => zstd().compress(data, 7), { createZstdCompress: () => ({ on() {} }) });
  t.equal(calls.zstdCompressSync, 1, 'zstdCompressSync did the work');
  t.ok(result.equals(reference(data, 7)), 'the same bytes');
});

function thrown(run: () => unknown): unknown {
  try {
    run();
  } catch (err) {
    return err;
  }
  return undefined;
}

t.test('a part decodes into memory the thread keeps; a bomb, garbage or a cut frame fails alone, and the next part decodes', async (t) => {
  const a = text(2 * 1024 * 1024, 1);
  const b = text(700_000, 2);
  const frameA = zstd().compress(a, 3);
  const frameB = zstd().compress(b, 3);
  const first = zstd().decompress(frameA, a.length);
  t.ok(first.equals(a), 'the bytes come back');
  const second = zstd().decompress(frameB, b.length);
  t.ok(second.equals(b), 'and the next part\'s');
  t.equal(second.buffer, first.buffer, 'in the same memory: the codec says so (a decoded tar is done with before the next)');

  t.ok(thrown(() => zstd().decompress(frameA, a.length - 1)) instanceof ZstdOutputTooLarge, 'one byte more than allowed is a bomb');
  t.ok(zstd().decompress(frameB, b.length).equals(b), 'the next part decodes');
  t.throws(() => zstd().decompress(Buffer.from('not a zstd frame at all'), 100), 'garbage fails');
  t.ok(zstd().decompress(frameB, b.length).equals(b), 'and the next part still decodes');
  t.equal(zstd().decompress(frameA.subarray(0, frameA.length - 1000), a.length).length < a.length, true, 'a cut frame decodes short (the caller refuses the size)');
  t.ok(zstd().decompress(frameB, b.length).equals(b), 'and does not leave the next part mid-frame');
  t.throws(() => zstd().decompress(Buffer.concat([frameB, frameB]), 2 * b.length), 'a second frame after the part is refused');
  const big = text(17 * 1024 * 1024, 3);
  const bigFrame = zstd().decompress(zstd().compress(big, 1), big.length);
  t.ok(bigFrame.equals(big), 'a part bigger than the packer makes decodes too');
  t.not(bigFrame.buffer, first.buffer, 'into memory of its own, not kept');
});

t.test('a thread decodes every part, small or big, into the one memory it keeps', async (t) => {
  const small = text(64 * 1024, 4);
  const big = text(8 * 1024 * 1024, 5);
  const first = zstd().decompress(zstd().compress(small, 3), small.length);
  const second = zstd().decompress(zstd().compress(big, 3), big.length);
  t.ok(second.equals(big), 'the bytes come back');
  // Made at once at the most it keeps: grown part by part, each bigger part faulted in fresh pages.
  t.equal(second.buffer, first.buffer, 'a bigger part after a small one: the same memory');
});

t.test('a part decodes a piece at a time into one small memory the thread keeps: the same bytes, and a bad frame fails alone', async (t) => {
  const codec = zstd();
  const decode = codec.decompressInPieces.bind(codec);
  const pieces = (data: Buffer, maxOutput: number): Buffer[] => {
    const got: Buffer[] = [];
    const length = decode(data, maxOutput, (piece) => void got.push(Buffer.from(piece))); // copied: the memory is the next piece's
    t.equal(length, got.reduce((sum, p) => sum + p.length, 0), 'it says how many bytes it handed out');
    return got;
  };
  for (const size of [1, DECODE_PIECE_BYTES, DECODE_PIECE_BYTES + 1, 5 * DECODE_PIECE_BYTES + 7]) {
    const data = text(size, size);
    const got = pieces(zstd().compress(data, 3), size);
    t.ok(Buffer.concat(got).equals(data), `${size} bytes come back`);
    t.ok(got.every((p) => p.length <= DECODE_PIECE_BYTES), 'in pieces no bigger than the memory kept for them');
  }
  const memory = new Set<ArrayBufferLike>();
  const big = text(3 * DECODE_PIECE_BYTES, 9);
  decode(zstd().compress(big, 3), big.length, (piece) => void memory.add(piece.buffer));
  decode(zstd().compress(big, 3), big.length, (piece) => void memory.add(piece.buffer));
  t.equal(memory.size, 1, 'every piece of every part in the same memory');

  const a = text(3 * DECODE_PIECE_BYTES, 10);
  const frameA = zstd().compress(a, 3);
  let handed = 0;
  t.ok(thrown(() => decode(frameA, a.length - 1, (piece) => void (handed += piece.length))) instanceof ZstdOutputTooLarge, 'one byte more than allowed is a bomb');
  t.ok(handed <= a.length - 1, 'and no byte past the limit was handed out');
  t.throws(() => decode(Buffer.from('not a zstd frame at all'), 100, () => {}), 'garbage fails');
  t.ok(Buffer.concat(pieces(frameA, a.length)).equals(a), 'and the next part decodes');
  t.ok(Buffer.concat(pieces(frameA.subarray(0, frameA.length - 1000), a.length)).length < a.length, 'a cut frame decodes short (the caller refuses the size)');
  t.ok(Buffer.concat(pieces(frameA, a.length)).equals(a), 'and does not leave the next part mid-frame');
  t.throws(() => decode(Buffer.concat([frameA, frameA]), a.length, () => {}), 'a second frame after the part is refused, its end on a piece\'s end');
  t.throws(() => decode(Buffer.concat([frameA, Buffer.from('trailing')]), a.length, () => {}), 'and bytes that are no frame');
  const b = text(700_000, 11);
  const frameB = zstd().compress(b, 3);
  t.throws(() => decode(Buffer.concat([frameB, frameB]), 2 * b.length, () => {}), 'a second frame after one that ends mid-piece, even within the limit');
});
