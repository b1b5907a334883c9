import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { text } from 'node:stream/consumers';
import type { Test } from 'tap';
import { sha256Digest, VerifyingStream } from '../../../shared/wire/digest.ts';
import type { BlobInfo, Store } from '../../../server/storage/store.ts';

// What every storage backend must do, run against each of them. makeStore gives a
// fresh, empty store (its own namespace space) for each subtest.

/** A body as the blob route hands it to a store: verified, with errors already listened for. */
export function verifiedBody(source: Readable, digest: string, size: number): VerifyingStream {
  const verified = new VerifyingStream(digest, size);
  pipeline(source, verified).catch(() => {});
  return verified;
}

export function storeContract(t: Test, makeStore: (t: Test) => Promise<Store>): void {
  const body = (data: string): { digest: string; stream: () => Readable; size: number } => ({
    digest: sha256Digest(Buffer.from(data)),
    stream: () => verifiedBody(Readable.from([Buffer.from(data)]), sha256Digest(Buffer.from(data)), Buffer.byteLength(data)),
    size: Buffer.byteLength(data),
  });

  t.test('a blob round-trips and reports its size', async (t) => {
    const store = await makeStore(t);
    const blob = body('hello blob');
    t.equal(await store.statBlob('ns1', blob.digest), undefined, 'absent before');
    t.equal(await store.putBlob('ns1', blob.digest, blob.stream(), blob.size), 'created');
    t.equal(await store.statBlob('ns1', blob.digest), blob.size);
    const stream = await store.getBlob('ns1', blob.digest);
    t.equal(await text(stream as Readable), 'hello blob');
    t.equal(await store.putBlob('ns1', blob.digest, blob.stream(), blob.size), 'exists', 'second put is a no-op');
  });

  t.test('a stored blob of the wrong size is replaced by an upload; sizes make it missing; a blob can be deleted', async (t) => {
    const store = await makeStore(t);
    const blob = body('the whole blob, as it should be');
    const torn = Buffer.from('the whole blob');
    t.equal(await store.putBlob('ns1', blob.digest, Readable.from([torn]), torn.length), 'created', 'a torn blob, as a crash or a bad disk leaves it');
    t.same(await store.missingBlobs('ns1', [blob.digest]), [], 'by name alone it is there');
    t.same(await store.missingBlobs('ns1', [blob.digest], [blob.size]), [blob.digest], 'with its size, it is missing');
    t.equal(await store.putBlob('ns1', blob.digest, blob.stream(), blob.size), 'created', 'the verified upload replaces it');
    t.equal(await text((await store.getBlob('ns1', blob.digest)) as Readable), 'the whole blob, as it should be');
    t.same(await store.missingBlobs('ns1', [blob.digest], [blob.size]), []);
    t.equal(await store.deleteBlob('ns1', blob.digest), true);
    t.equal(await store.statBlob('ns1', blob.digest), undefined);
    t.equal(await store.deleteBlob('ns1', blob.digest), false, 'deleting an absent blob says so');
  });

  t.test('a staged body is placed under the digest its caller computed, or dropped; nothing of it is listed before', async (t) => {
    const store = await makeStore(t);
    const blob = body('a body whose digest its sender did not know');
    const staged = await store.stageBlob('ns1', Readable.from([Buffer.from('a body whose digest its sender did not know')]));
    t.equal(staged.size, blob.size);
    const listed: string[] = [];
    for await (const b of store.listBlobs('ns1')) listed.push(b.digest);
    t.same(listed, [], 'a staged body is no blob yet');
    t.equal(await staged.commit(blob.digest), 'created');
    t.equal(await text((await store.getBlob('ns1', blob.digest)) as Readable), 'a body whose digest its sender did not know');
    const again = await store.stageBlob('ns1', Readable.from([Buffer.from('a body whose digest its sender did not know')]));
    t.equal(await again.commit(blob.digest), 'exists', 'the same bytes again');
    const dropped = await store.stageBlob('ns1', Readable.from([Buffer.from('not wanted')]));
    await dropped.discard();
    const after: string[] = [];
    for await (const b of store.listBlobs('ns1')) after.push(b.digest);
    t.same(after, [blob.digest], 'a discarded body leaves nothing');
    const failing = new Readable({ read() { this.destroy(new Error('the client went away')); } });
    await t.rejects(store.stageBlob('ns1', failing), 'a body that breaks off fails the staging');
  });

  t.test('ranges are inclusive on both ends', async (t) => {
    const store = await makeStore(t);
    const blob = body('0123456789');
    await store.putBlob('ns1', blob.digest, blob.stream(), blob.size);
    t.equal(await text((await store.getBlob('ns1', blob.digest, { start: 2, end: 5 })) as Readable), '2345');
    t.equal(await text((await store.getBlob('ns1', blob.digest, { start: 9, end: 9 })) as Readable), '9');
  });

  t.test('namespaces do not see each other', async (t) => {
    const store = await makeStore(t);
    const blob = body('private');
    await store.putBlob('ns-a', blob.digest, blob.stream(), blob.size);
    t.equal(await store.statBlob('ns-b', blob.digest), undefined);
    t.equal(await store.getBlob('ns-b', blob.digest), undefined);
    await store.putEntry('ns-a', 'k', Buffer.from('{}'));
    t.equal(await store.getEntry('ns-b', 'k'), undefined);
    t.same(await store.listEntries('ns-b', '', 10), []);
  });

  t.test('a body that fails verification stores nothing', async (t) => {
    const store = await makeStore(t);
    const claimed = sha256Digest(Buffer.from('what was promised'));
    const lying = verifiedBody(Readable.from([Buffer.from('something else!!!')]), claimed, 17);
    await t.rejects(store.putBlob('ns1', claimed, lying, 17), { code: 'LARDER_DIGEST_MISMATCH' });
    t.equal(await store.statBlob('ns1', claimed), undefined);
  });

  t.test('a body cut off midway stores nothing', async (t) => {
    const store = await makeStore(t);
    const claimed = sha256Digest(Buffer.alloc(1000));
    const source = new Readable({ read() {} });
    const verified = verifiedBody(source, claimed, 1000);
    const put = store.putBlob('ns1', claimed, verified, 1000);
    source.push(Buffer.alloc(400));
    setTimeout(() => source.destroy(new Error('client went away')), 20);
    await t.rejects(put);
    t.equal(await store.statBlob('ns1', claimed), undefined);
  });

  t.test('missingBlobs returns exactly the absent digests', async (t) => {
    const store = await makeStore(t);
    const [a, b, c] = ['a', 'b', 'c'].map(body) as [ReturnType<typeof body>, ReturnType<typeof body>, ReturnType<typeof body>];
    await store.putBlob('ns1', a.digest, a.stream(), a.size);
    await store.putBlob('ns1', c.digest, c.stream(), c.size);
    t.same(await store.missingBlobs('ns1', [a.digest, b.digest, c.digest]), [b.digest]);
    t.same(await store.missingBlobs('ns1', []), []);
  });

  t.test('entries: the first writer wins, and delete removes', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.getEntry('ns1', 'key-1'), undefined);
    t.equal(await store.putEntry('ns1', 'key-1', Buffer.from('{"first":true}')), 'created');
    t.equal(await store.putEntry('ns1', 'key-1', Buffer.from('{"second":true}')), 'exists');
    t.equal((await store.getEntry('ns1', 'key-1'))?.toString(), '{"first":true}', 'the first manifest stays');
    t.equal(await store.deleteEntry('ns1', 'key-1'), true);
    t.equal(await store.deleteEntry('ns1', 'key-1'), false);
    t.equal(await store.getEntry('ns1', 'key-1'), undefined);
  });

  t.test('concurrent publishes of one key: exactly one is created', async (t) => {
    const store = await makeStore(t);
    const outcomes = await Promise.all(Array.from({ length: 8 }, (_, i) => store.putEntry('ns1', 'raced', Buffer.from(`{"writer":${i}}`))));
    t.equal(outcomes.filter((o) => o === 'created').length, 1);
    const stored = JSON.parse(((await store.getEntry('ns1', 'raced')) as Buffer).toString()) as { writer: number };
    t.equal(outcomes[stored.writer], 'created', 'the stored manifest is the one that was told it won');
  });

  t.test('listing: by prefix, newest first, limited', async (t) => {
    const store = await makeStore(t);
    for (const key of ['npm-a-1', 'npm-a-2', 'npm-b-1', 'pip-a-1']) {
      await store.putEntry('ns1', key, Buffer.from('{}'));
      await new Promise((r) => setTimeout(r, 15)); // distinct creation times
    }
    t.same((await store.listEntries('ns1', 'npm-', 10)).map((e) => e.key), ['npm-b-1', 'npm-a-2', 'npm-a-1']);
    t.same((await store.listEntries('ns1', 'npm-a-', 1)).map((e) => e.key), ['npm-a-2']);
    t.same((await store.listEntries('ns1', '', 10)).length, 4);
    t.same(await store.listEntries('ns1', 'zzz', 10), []);
    const [newest] = await store.listEntries('ns1', 'pip', 10);
    t.equal(newest?.size, 2);
    t.ok(newest && newest.createdAt.getTime() > Date.now() - 60_000, 'createdAt is the publish time');
  });

  t.test('the collector sees every namespace, blob and entry as stored', async (t) => {
    const store = await makeStore(t);
    const [a, b] = ['blob a', 'blob b!'].map(body) as [ReturnType<typeof body>, ReturnType<typeof body>];
    t.same(await store.listNamespaces(), [], 'an empty store has none');
    await store.putBlob('ns-one', a.digest, a.stream(), a.size);
    await store.putBlob('ns-two', b.digest, b.stream(), b.size);
    await store.putEntry('ns-two', 'k1', Buffer.from('{"k":1}'));
    await store.putEntry('ns-two', 'k2', Buffer.from('{}'));
    t.same(await store.listNamespaces(), ['ns-one', 'ns-two']);
    const blobs = [];
    for await (const blob of store.listBlobs('ns-two')) blobs.push(blob);
    t.same(blobs.map((x) => [x.digest, x.size]), [[b.digest, b.size]]);
    t.ok((blobs[0]?.modifiedAt.getTime() ?? 0) > Date.now() - 60_000, 'with the time it was written');
    t.same((await store.allEntries('ns-two')).map((e) => [e.key, e.size]).sort(), [['k1', 7], ['k2', 2]]);
    await store.deleteEntry('ns-two', 'k1');
    t.same((await store.allEntries('ns-two')).map((e) => e.key), ['k2']);
  });

  t.test('a replacing put writes a stored blob again, so its time is new', async (t) => {
    const store = await makeStore(t);
    const a = body('claimed again');
    await store.putBlob('ns1', a.digest, a.stream(), a.size);
    const before = await firstBlob(store, 'ns1');
    await new Promise((r) => setTimeout(r, 1100)); // S3 keeps whole seconds
    t.equal(await store.putBlob('ns1', a.digest, a.stream(), a.size), 'exists', 'a plain put leaves it');
    t.equal((await firstBlob(store, 'ns1'))?.modifiedAt.getTime(), before?.modifiedAt.getTime());
    t.equal(await store.putBlob('ns1', a.digest, a.stream(), a.size, { replace: true }), 'created');
    t.ok(((await firstBlob(store, 'ns1'))?.modifiedAt.getTime() ?? 0) > (before?.modifiedAt.getTime() ?? Infinity));
    t.equal(await text((await store.getBlob('ns1', a.digest)) as Readable), 'claimed again');
  });

  t.test('bookkeeping objects: create once, replace only the version read, list, delete', async (t) => {
    const store = await makeStore(t);
    t.equal(await store.getMeta('retention/lease.json'), undefined);
    const created = await store.putMeta('retention/lease.json', Buffer.from('one'), { ifAbsent: true });
    t.not(created, 'conflict');
    t.equal(await store.putMeta('retention/lease.json', Buffer.from('two'), { ifAbsent: true }), 'conflict', 'only one creator wins');
    const read = await store.getMeta('retention/lease.json');
    t.equal(read?.body.toString(), 'one');
    t.equal(read?.etag, (created as { etag: string }).etag, 'the etag a write returns is the one a read sees');
    const replaced = await store.putMeta('retention/lease.json', Buffer.from('three'), { ifEtag: read?.etag ?? '' });
    t.not(replaced, 'conflict');
    t.equal(await store.putMeta('retention/lease.json', Buffer.from('four'), { ifEtag: read?.etag ?? '' }), 'conflict', 'a stale etag loses');
    t.equal((await store.getMeta('retention/lease.json'))?.body.toString(), 'three');
    const raced = await Promise.all([1, 2, 3, 4].map((n) => store.putMeta('retention/lease.json', Buffer.from(`racer ${n}`), { ifEtag: (replaced as { etag: string }).etag })));
    t.equal(raced.filter((r) => r !== 'conflict').length, 1, 'of racers holding one etag, exactly one wins');
    await store.putMeta('retention/access/0002-b.json', Buffer.from('b'));
    await store.putMeta('retention/access/0001-a.json', Buffer.from('a'));
    t.same(await store.listMeta('retention/access/'), ['retention/access/0001-a.json', 'retention/access/0002-b.json']);
    await store.deleteMeta('retention/access/0001-a.json');
    await store.deleteMeta('retention/access/0001-a.json');
    t.same(await store.listMeta('retention/access/'), ['retention/access/0002-b.json']);
    t.same(await store.listNamespaces(), [], 'bookkeeping is no namespace');
  });

  t.test('check() passes on a healthy store', async (t) => {
    const store = await makeStore(t);
    await t.resolves(store.check());
  });
}

async function firstBlob(store: Store, ns: string): Promise<BlobInfo | undefined> {
  for await (const blob of store.listBlobs(ns)) return blob;
  return undefined;
}
