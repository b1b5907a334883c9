import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import t from 'tap';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { disposableChunks } from '../../../server/storage/disposable-chunks.ts';
import { FsStore } from '../../../server/storage/fs.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { storeContract, verifiedBody } from './contract.ts';

t.test('disk store contract', async (t) => {
  storeContract(t, async (t) => new FsStore(tempDir(t, 'fs-store')).init());
});

t.test('lays blobs and entries out as the design says', async (t) => {
  const root = tempDir(t);
  const store = await new FsStore(root).init();
  const data = Buffer.from('layout');
  const digest = sha256Digest(data);
  await store.putBlob('team', digest, verifiedBody(Readable.from([data]), digest, data.length), data.length);
  await store.putEntry('team', 'npm-key', Buffer.from('{}'));
  const hex = digest.slice(7);
  t.ok(existsSync(join(root, 'v1/ns/team/blobs/sha256', hex.slice(0, 2), hex)));
  t.ok(existsSync(join(root, 'v1/ns/team/entries/npm-key.json')));
  t.same(readdirSync(join(root, 'tmp')), [], 'no temp file is left behind');
});

t.test('a failed upload leaves no temp file', async (t) => {
  const root = tempDir(t);
  const store = await new FsStore(root).init();
  const digest = sha256Digest(Buffer.from('x'));
  await t.rejects(store.putBlob('team', digest, verifiedBody(Readable.from([Buffer.from('y')]), digest, 1), 1));
  t.same(readdirSync(join(root, 'tmp')), []);
});

t.test('temp files left by a crash are cleared at start', async (t) => {
  const root = tempDir(t);
  mkdirSync(join(root, 'tmp'), { recursive: true });
  writeFileSync(join(root, 'tmp', 'half-written'), 'partial');
  await new FsStore(root).init();
  t.same(readdirSync(join(root, 'tmp')), []);
});

t.test('a blob arriving in many small chunks is written whole, across write batches', async (t) => {
  const root = tempDir(t);
  const store = await new FsStore(root).init();
  const data = randomBytes(2.5 * 1024 * 1024 + 7);
  const chunks: Buffer[] = [];
  for (let off = 0, n = 1; off < data.length; off += n, n = (n * 7919) % 65536 || 1) chunks.push(data.subarray(off, off + n));
  const digest = sha256Digest(data);
  t.equal(await store.putBlob('team', digest, verifiedBody(Readable.from(chunks), digest, data.length), data.length), 'created');
  const stored = await store.getBlob('team', digest);
  const got = Buffer.concat(await (stored as Readable).toArray());
  t.ok(got.equals(data), `${chunks.length} chunks of 1 byte to 64 KiB, stored byte for byte`);
  t.same(readdirSync(join(root, 'tmp')), [], 'no temp file is left behind');
});

t.test('a marked body is freed chunk by chunk once written; an unmarked one is left as it was', async (t) => {
  const store = await new FsStore(tempDir(t)).init();
  const fresh = () => Array.from({ length: 40 }, () => Buffer.from(randomBytes(65_536))); // 2.5 MiB: three write batches
  for (const marked of [true, false]) {
    const chunks = fresh();
    const data = Buffer.concat(chunks);
    const digest = sha256Digest(data);
    const body = verifiedBody(Readable.from(chunks), digest, data.length);
    await store.putBlob(marked ? 'marked' : 'plain', digest, marked ? disposableChunks(body, new Socket()) : body, data.length);
    const freed = chunks.filter((c) => c.buffer.byteLength === 0).length;
    t.equal(freed, marked ? chunks.length : 0, marked ? 'every chunk of a marked body freed' : 'none of an unmarked one');
    const stored = Buffer.concat(await ((await store.getBlob(marked ? 'marked' : 'plain', digest)) as Readable).toArray());
    t.ok(stored.equals(data), 'stored byte for byte');
  }
});

t.test('a body that fails after its first megabytes leaves no temp file', async (t) => {
  const root = tempDir(t);
  const store = await new FsStore(root).init();
  const data = randomBytes(3 * 1024 * 1024);
  const digest = sha256Digest(data);
  async function* cutOff() {
    yield data.subarray(0, 2 * 1024 * 1024);
    throw new Error('connection reset');
  }
  await t.rejects(store.putBlob('team', digest, verifiedBody(Readable.from(cutOff()), digest, data.length), data.length));
  t.same(readdirSync(join(root, 'tmp')), []);
  t.equal(await store.statBlob('team', digest), undefined, 'nothing published');
});
