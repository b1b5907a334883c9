import { randomBytes } from 'node:crypto';
import { createRequire, syncBuiltinESMExports } from 'node:module';
import t from 'tap';
import { zstd } from '../../../client/archive/zstd.ts';

// The codec's compress keeps one zstd context per level on each thread instead of making
// one per part: it must write the very bytes zstdCompressSync writes (a part's digest is
// its address, and a save recognises the parts other machines stored), and fall back to
// zstdCompressSync where node:zlib's internals are not what it expects.

const zlib = createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib');
const zstdCompressSync = zlib.zstdCompressSync;
const reference = (data: Buffer, level: number): Buffer => zstdCompressSync(data, { params: { [zlib.constants.ZSTD_c_compressionLevel]: level } });

const text = (size: number): Buffer => {
  const words = Array.from({ length: 300 }, () => randomBytes(5).toString('hex'));
  const out = Buffer.alloc(size);
  for (let at = 0, i = 0; at < size; i++) at += out.write(`${words[(i * 7919) % words.length]} `, at);
  return out;
};

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

t.test('a part compresses to the very bytes zstdCompressSync gives it, whatever its size and content', async (t) => {
  const sizes = [0, 1, 100, 16 * 1024, 20_000, 131_072, 300_000, 1024 * 1024 + 3, 3 * 1024 * 1024];
  for (const size of sizes) {
    const kinds: Record<string, Buffer> = { text: text(size), random: randomBytes(size), zeros: Buffer.alloc(size) };
    for (const [kind, data] of Object.entries(kinds)) {
      // levels interleaved: each keeps its own context
      for (const level of [3, 1]) t.ok(zstd().compress(data, level).equals(reference(data, level)), `${kind}, ${size} bytes, level ${level}`);
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

t.test('without the zlib internals it drives, it compresses as zstdCompressSync does', async (t) => {
  const data = text(300_000);
  const { result, calls } = counting(() => zstd().compress(data, 7), { createZstdCompress: () => ({ on() {} }) });
  t.equal(calls.zstdCompressSync, 1, 'zstdCompressSync did the work');
  t.ok(result.equals(reference(data, 7)), 'the same bytes');
});
