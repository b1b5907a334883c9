import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { walkTree } from '../../../client/archive/tree.ts';
import { listEntries } from '../../../client/workers/entry-list.ts';
import { PartWorkers } from '../../../client/workers/worker-pool.ts';
import { finishTree } from '../../../client/archive/finish-tree.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { startServer } from '../../helpers/server.ts';
import { CacheClient } from '../../../client/transport/transfer.ts';
import { packPart } from '../../../client/archive/pack.ts';
import { StoredFrameAgain } from '../../../client/archive/reread.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { Writable } from 'node:stream';
import { storedSize } from '../../../client/archive/stored.ts';
import type { PartRef } from '../../../shared/wire/manifest.ts';
import { wordyText } from '../../helpers/text.ts';

t.test('a pool warmed for packing still extracts: each worker loads the other code on demand', async (t) => {
  const server = await startServer(t);
  const src = tempDir(t);
  mkdirSync(join(src, 'lib'));
  writeFileSync(join(src, 'lib/a.js'), 'module.exports = 1;\n');
  const workers = new PartWorkers(2, { server: server.url, namespace: 'pool' });
  t.teardown(() => workers.terminate());
  workers.warm('pack');
  const packed = await workers.pack({ root: src, entries: listEntries(walkTree(src).entries), level: 3, spill: tempDir(t), reuse: false });
  if ('known' in packed) throw new Error('nothing was known');
  t.ok(packed.bytes, 'packed in memory');
  const client = new CacheClient({ server: server.url, namespace: 'pool' });
  await client.putBlob(packed.ref.digest, packed.ref.size, () => packed.bytes as Buffer);
  const out = tempDir(t);
  const extracted = await workers.extract(packed.ref, out);
  finishTree(out, [extracted]);
  t.equal(readFileSync(join(out, 'lib/a.js'), 'utf8'), 'module.exports = 1;\n');
});

t.test('one worker holding several restore jobs finishes each, and a failed one does not take the others down', async (t) => {
  const server = await startServer(t);
  const client = new CacheClient({ server: server.url, namespace: 'pool' });
  const parts = [];
  for (const name of ['a', 'b']) {
    const src = tempDir(t);
    writeFileSync(join(src, `${name}.txt`), name.repeat(1000));
    const packed = await packPart(src, walkTree(src).entries, 3, tempDir(t));
    await client.putBlob(packed.ref.digest, packed.ref.size, () => packed.bytes as Buffer);
    parts.push(packed.ref);
  }
  const [a, b] = parts as [PartRef, PartRef];
  const absent: PartRef = { ...a, digest: `sha256:${'0'.repeat(64)}` };
  const workers = new PartWorkers(1, { server: server.url, namespace: 'pool' });
  t.teardown(() => workers.terminate());
  const out = tempDir(t);
  const results = await Promise.allSettled([workers.extract(a, out), workers.extract(absent, out), workers.extract(b, out)]);
  t.same(
    results.map((r) => r.status),
    ['fulfilled', 'rejected', 'fulfilled'],
  );
  t.match((results[1] as PromiseRejectedResult).reason, { code: 'LARDER_BLOB_NOT_FOUND' });
  finishTree(out, results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : [])));
  t.equal(readFileSync(join(out, 'a.txt'), 'utf8'), 'a'.repeat(1000));
  t.equal(readFileSync(join(out, 'b.txt'), 'utf8'), 'b'.repeat(1000));
});

t.test('a job on a terminated pool fails with a stable code', async (t) => {
  const workers = new PartWorkers(1, { namespace: 'pool' });
  workers.warm('pack');
  await workers.terminate();
  await t.rejects(workers.pack({ root: '/nonexistent', entries: listEntries([]), level: 3, spill: tempDir(t), reuse: false }), { code: 'LARDER_INTERNAL' });
});

t.test('a part whose tar bytes the pool was told of comes back known, not compressed, on running and new workers alike', async (t) => {
  const src = tempDir(t);
  writeFileSync(join(src, 'a.txt'), 'a'.repeat(5000));
  const entries = walkTree(src).entries;
  const reference = await packPart(src, entries, 3, tempDir(t));
  for (const warm of [true, false]) {
    const workers = new PartWorkers(1, { namespace: 'pool' });
    t.teardown(() => workers.terminate());
    if (warm) workers.warm('pack'); // running when it is told
    workers.know([reference.ref.rawDigest as string]);
    const job = { root: src, entries: listEntries(entries), level: 3, spill: tempDir(t) };
    t.same(await workers.pack({ ...job, reuse: true }), { known: { rawDigest: reference.ref.rawDigest, times: reference.ref.times } }, `${warm ? 'a running' : 'a new'} worker knows it`);
    const built = await workers.pack({ ...job, reuse: false });
    t.same('ref' in built && built.ref, reference.ref, 'without reuse it is compressed as ever');
  }
});

t.test('the memory of an uploaded part goes back to the worker that packed it, which builds its next frame in it', async (t) => {
  const folder = (name: string, bytes: Buffer) => {
    const root = tempDir(t);
    writeFileSync(join(root, name), bytes);
    return root;
  };
  // Frames of ~0.8 MB, each in 1 MiB: whichever worker gets which part, a spare holds it.
  const texts = [folder('a.txt', wordyText(2 << 20, 1)), folder('b.txt', wordyText(2 << 20, 2))];
  const moreTexts = [folder('c.txt', wordyText(2 << 20, 3)), folder('d.txt', wordyText(2 << 20, 4))];
  const workers = new PartWorkers(2, { namespace: 'pool' });
  t.teardown(() => workers.terminate());
  const pack = async (root: string) => {
    const packed = await workers.pack({ root, entries: listEntries(walkTree(root).entries), level: 3, spill: tempDir(t), reuse: false });
    if ('known' in packed || !packed.bytes) throw new Error('expected bytes');
    return packed.bytes;
  };
  // One part each for the two workers, at once.
  const frames = await Promise.all(texts.map(pack));
  t.ok(frames.every((bytes) => bytes.buffer.byteLength % (1 << 20) === 0), 'a frame is built in memory taken in whole MiB, and moves with it');
  const tail = (bytes: Buffer) => new Uint8Array(bytes.buffer)[bytes.buffer.byteLength - 1];
  frames.forEach((bytes, i) => new Uint8Array(bytes.buffer).fill(0xa0 + i, bytes.byteOffset + bytes.length)); // marks past each frame's end
  const marks = frames.map(tail);
  for (const bytes of frames) workers.recycle(bytes);
  t.ok(frames.every((bytes) => bytes.buffer.byteLength === 0), 'handed over, not copied: the main thread no longer holds it');
  const again = await Promise.all(moreTexts.map(pack));
  t.same(again.map(tail).sort(), marks, 'each worker built its next frame in the memory of its last one: none got both, none a fresh one');
  for (const [i, root] of moreTexts.entries()) {
    const alone = (await packPart(root, walkTree(root).entries, 3, tempDir(t))).bytes ?? [];
    t.same(again[i], Buffer.concat([alone].flat()), `part ${i}: the bytes packing on this thread gives`);
  }
});

t.test('a stored part stays with its worker: no bytes come back, and its upload makes the same frame from its files', async (t) => {
  const { randomBytes } = await import('node:crypto');
  const jar = tempDir(t);
  writeFileSync(join(jar, 'a.jar'), randomBytes(3 << 20));
  const workers = new PartWorkers(1, { namespace: 'pool' });
  t.teardown(() => workers.terminate());
  const { entries } = walkTree(jar);
  const stored = await workers.pack({ root: jar, entries: listEntries(entries), level: 3, spill: tempDir(t), reuse: false });
  if ('known' in stored) throw new Error('expected a part');
  t.equal(stored.ref.size, storedSize(stored.ref.rawSize), 'the jar part is stored');
  t.same([stored.reread, stored.bytes, stored.file], [true, undefined, undefined], 'to be read again, nothing in hand');
  const alone = await packPart(jar, entries, 3, tempDir(t));
  t.same(stored.ref, alone.ref, 'the part packing on this thread gives');
  const chunks: Buffer[] = [];
  await new StoredFrameAgain(jar, entries, stored.ref.rawSize).sendTo(new Writable({ write: (chunk: Buffer, _encoding, callback) => (chunks.push(Buffer.from(chunk)), callback()) }));
  t.same(Buffer.concat(chunks), Buffer.concat([alone.bytes ?? []].flat()), 'its upload sends the frame packing on this thread builds');
  t.equal(sha256Digest(Buffer.concat(chunks)), stored.ref.digest, 'whose digest the worker gave');
});

t.test('a pool told to run here packs and extracts on this thread and starts no worker', async (t) => {
  const server = await startServer(t);
  const src = tempDir(t);
  writeFileSync(join(src, 'a.js'), 'module.exports = 1;\n');
  const workers = new PartWorkers(2, { server: server.url, namespace: 'pool' });
  t.teardown(() => workers.terminate());
  workers.runHere();
  workers.warm('pack');
  const packed = await workers.pack({ root: src, entries: listEntries(walkTree(src).entries), level: 3, spill: tempDir(t), reuse: false });
  if ('known' in packed || !packed.bytes) throw new Error('expected bytes');
  const client = new CacheClient({ server: server.url, namespace: 'pool' });
  await client.putBlob(packed.ref.digest, packed.ref.size, () => packed.bytes as Buffer);
  const out = tempDir(t);
  finishTree(out, [await workers.extract(packed.ref, out)]);
  t.equal(readFileSync(join(out, 'a.js'), 'utf8'), 'module.exports = 1;\n');
  t.equal(workers.threads, 0, 'no worker thread was started');
  await t.rejects(workers.extract({ ...packed.ref, digest: `sha256:${'0'.repeat(64)}` }, out), { code: 'LARDER_BLOB_NOT_FOUND' }, 'a failure keeps its code');
});

t.test('on this thread, a part whose download ends after the pool stopped is not written', async (t) => {
  const server = await startServer(t);
  const src = tempDir(t);
  writeFileSync(join(src, 'late.txt'), 'late');
  const packed = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  await new CacheClient({ server: server.url, namespace: 'pool' }).putBlob(packed.ref.digest, packed.ref.size, () => packed.bytes as Buffer);
  const workers = new PartWorkers(1, { server: server.url, namespace: 'pool' });
  workers.runHere();
  const out = tempDir(t);
  const extracting = workers.extract(packed.ref, out);
  await workers.terminate(); // as a failed restore does, before it removes its staging folder
  await t.rejects(extracting, { code: 'LARDER_INTERNAL' });
  t.same(readdirSync(out), [], 'nothing written after the stop');
});

t.test('a part downloaded by the main thread moves to the worker, which writes it without a server of its own', async (t) => {
  const { randomBytes } = await import('node:crypto');
  const src = tempDir(t);
  writeFileSync(join(src, 'lib.bin'), randomBytes(1 << 20));
  const packed = await packPart(src, walkTree(src).entries, 3, tempDir(t));
  const bytes = Buffer.from(packed.bytes as Buffer); // memory of its own, as a download's
  const workers = new PartWorkers(1, { namespace: 'pool' }); // no server: it could not download
  t.teardown(() => workers.terminate());
  const out = tempDir(t);
  const size = bytes.buffer.byteLength;
  const extracting = workers.extract(packed.ref, out, bytes);
  t.equal(bytes.buffer.byteLength, 0, 'moved, not copied');
  const { spare, ...result } = await extracting;
  t.equal(spare?.byteLength, size, 'its memory comes back with the result, for the next download');
  finishTree(out, [result]);
  t.same(readFileSync(join(out, 'lib.bin')), readFileSync(join(src, 'lib.bin')));
});
