import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { text } from 'node:stream/consumers';
import t from 'tap';
import { request } from 'undici';
import { buildApp } from '../../../server/app.ts';
import { S3Store } from '../../../server/storage/s3.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { manifestFor } from '../../helpers/app.ts';
import { runLarder } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { leftovers, s3Skip, s3Store, s3StoreOptions } from '../../helpers/external/s3.ts';
import { storeContract, verifiedBody } from './contract.ts';
import { mapLimit } from '../../../shared/concurrency.ts';

t.test('S3 store contract (real RADOS Gateway)', { skip: s3Skip }, async (t) => {
  storeContract(t, (t) => s3Store(t));
});

t.test('a multipart upload that fails verification leaves no object and no upload', { skip: s3Skip }, async (t) => {
  const options = await s3StoreOptions({ partSize: 5 * 1024 * 1024 });
  const store = new S3Store(options);
  t.teardown(() => store.close());
  const data = randomBytes(12 * 1024 * 1024);
  const claimed = sha256Digest(Buffer.from('not these bytes'));
  await t.rejects(store.putBlob('ns', claimed, verifiedBody(Readable.from([data.subarray(0, 6e6), data.subarray(6e6)]), claimed, data.length), data.length), { code: 'LARDER_DIGEST_MISMATCH' });
  t.same(await leftovers(options.prefix), { objects: [], uploads: [] });
});

t.test('an upload whose client disconnects leaves no object and no upload', { skip: s3Skip }, async (t) => {
  const options = await s3StoreOptions({ partSize: 5 * 1024 * 1024 });
  const store = new S3Store(options);
  t.teardown(() => store.close());
  const size = 20 * 1024 * 1024;
  const digest = sha256Digest(Buffer.alloc(size));
  const source = new Readable({ read() {} });
  const put = store.putBlob('ns', digest, verifiedBody(source, digest, size), size);
  source.push(Buffer.alloc(11 * 1024 * 1024)); // two parts' worth: the multipart upload has begun
  setTimeout(() => source.destroy(new Error('client went away')), 300);
  await t.rejects(put);
  await new Promise((r) => setTimeout(r, 200));
  t.same(await leftovers(options.prefix), { objects: [], uploads: [] });
});

t.test('a big blob streams up as multipart and reads back whole and by range', { skip: s3Skip }, async (t) => {
  const store = await s3Store(t, { partSize: 5 * 1024 * 1024 });
  const data = randomBytes(11 * 1024 * 1024 + 3);
  const digest = sha256Digest(data);
  t.equal(await store.putBlob('ns', digest, verifiedBody(Readable.from([data]), digest, data.length), data.length), 'created');
  t.equal(await store.statBlob('ns', digest), data.length);
  const whole: Buffer[] = [];
  for await (const chunk of (await store.getBlob('ns', digest)) as Readable) whole.push(chunk as Buffer);
  t.ok(Buffer.concat(whole).equals(data));
  const tail = await store.getBlob('ns', digest, { start: data.length - 10, end: data.length - 1 });
  t.equal(await text(tail as Readable), data.subarray(-10).toString());
});

t.test('restore-key lookup scans past the first listing page', { skip: s3Skip }, async (t) => {
  const store = await s3Store(t, { pageSize: 3 });
  await store.putEntry('ns', 'npm-00', Buffer.from('{}'));
  await new Promise((r) => setTimeout(r, 1100)); // S3 may keep whole seconds
  await store.putEntry('ns', 'npm-01', Buffer.from('{}'));
  for (let i = 2; i < 10; i++) await store.putEntry('ns', `a-${i}`, Buffer.from('{}'));
  t.same((await store.listEntries('ns', 'npm-', 1)).map((e) => e.key), ['npm-01'], 'newest of the prefix');
  t.equal((await store.listEntries('ns', '', 100)).length, 10, 'all pages read');
});

t.test('restore-key lookups cost one listing request at any number of entries, and see other servers at once', { skip: s3Skip }, async (t) => {
  const options = await s3StoreOptions({ pageSize: 100, journalSkewMs: 0 }); // no minute's margin: these 1,000 publishes do not all come back
  const [a, b] = [new S3Store(options), new S3Store(options)];
  t.teardown(() => Promise.all([a.close(), b.close()]));
  await mapLimit(Array.from({ length: 1000 }, (_, i) => `npm-${String(i).padStart(4, '0')}`), 32, (key) => a.putEntry('ns', key, Buffer.from('{}')));
  const lists = (store: S3Store): number => store.requests.get('ListObjectsV2Command') ?? 0;
  t.equal((await b.listEntries('ns', 'npm-', 1000)).length, 1000, 'the first lookup lists everything once');
  const before = lists(b);
  for (let i = 0; i < 5; i++) await b.listEntries('ns', 'npm-09', 5);
  t.equal(lists(b) - before, 5, 'after that, one listing request per lookup (the journal since the last)');
  await a.putEntry('ns', 'npm-new', Buffer.from('{"new":1}'));
  t.same((await b.listEntries('ns', 'npm-', 1)).map((e) => e.key), ['npm-new'], "another server's publish is seen by the next lookup");
  await a.deleteEntry('ns', 'npm-new');
  t.equal(await b.getEntry('ns', 'npm-new'), undefined);
  t.same((await b.listEntries('ns', 'npm-new', 1)), [], 'an entry found gone is dropped, and the journal does not bring it back');
});

t.test('two servers on one bucket: one publish wins, both clients are told the truth', { skip: s3Skip }, async (t) => {
  const options = await s3StoreOptions();
  const apps = await Promise.all([0, 1].map(async () => {
    const app = await buildApp({ store: new S3Store(options) });
    t.teardown(() => app.close());
    return app.listen({ host: '127.0.0.1', port: 0 });
  }));
  const data = Buffer.from('shared part');
  const digest = sha256Digest(data);
  const put = await request(`${apps[0]}/v1/ns/team/blobs/${digest}`, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  t.equal(put.statusCode, 201);
  await put.body.dump();
  const manifests = [0, 1].map((i) => ({ ...manifestFor('raced-key', [digest]), inputs: { writer: String(i) } }));
  const answers = await Promise.all(apps.map(async (url, i) => {
    const res = await request(`${url}/v1/ns/team/entries/raced-key`, { method: 'PUT', body: JSON.stringify(manifests[i]), headers: { 'content-type': 'application/json' } });
    await res.body.dump();
    return res.statusCode;
  }));
  t.same([...answers].sort(), [201, 409], 'exactly one wins');
  const winner = answers.indexOf(201);
  for (const url of apps) {
    const got = await request(`${url}/v1/ns/team/entries/raced-key`);
    t.same(await got.body.json(), { ...manifests[winner], publisher: { name: 'open server' } }, 'both servers serve the winner, as published');
  }
  const viaOther = await request(`${apps[1]}/v1/ns/team/blobs/${digest}`);
  t.equal(await viaOther.body.text(), 'shared part', 'a blob uploaded through one server is served by the other');
});

t.test('S3 down: 503 with a clear code, never a miss', { skip: s3Skip }, async (t) => {
  const store = new S3Store({ ...(await s3StoreOptions()), endpoint: 'http://127.0.0.1:1', maxAttempts: 1 });
  const app = await buildApp({ store });
  t.teardown(() => app.close());
  const lookup = await app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: { key: 'k' } });
  t.equal(lookup.statusCode, 503);
  t.equal(lookup.json().code, 'LARDER_STORE_UNAVAILABLE');
  const ready = await app.inject({ url: '/readyz' });
  t.equal(ready.statusCode, 503);
  const blob = await app.inject({ url: `/v1/ns/team/blobs/${sha256Digest(Buffer.from('x'))}` });
  t.equal(blob.statusCode, 503, 'not a 404');
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  const restored = await runLarder(['restore', '--key', 'k-{os}', '--path', 'deps', '--json'], { cwd: tempDir(t), env: { LARDER_SERVER: url } });
  t.equal(restored.code, 0, 'the build goes on');
  t.match(JSON.parse(restored.stdout), { outcome: 'error', error: { code: 'LARDER_STORE_UNAVAILABLE' } });
  t.match(restored.stderr, /continuing without the cache/);
});

t.test('403 (bad credentials, or no s3:ListBucket) is an error that says so, not a miss', { skip: s3Skip }, async (t) => {
  const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
  process.env.AWS_SECRET_ACCESS_KEY = 'wrong-secret';
  t.teardown(() => {
    process.env.AWS_SECRET_ACCESS_KEY = saved.secret;
  });
  const store = new S3Store({ ...(await s3StoreOptions()), maxAttempts: 1 });
  t.teardown(() => store.close());
  await t.rejects(store.statBlob('ns', sha256Digest(Buffer.from('x'))), { code: 'LARDER_STORE_UNAVAILABLE', message: /denied access.*ListBucket/ });
  await t.rejects(store.getEntry('ns', 'k'), { code: 'LARDER_STORE_UNAVAILABLE' });
});

t.test('purging a namespace deletes its objects in batches', { skip: s3Skip }, async (t) => {
  const options = await s3StoreOptions();
  const store = new S3Store({ ...options, pageSize: 2 });
  t.teardown(() => store.close());
  for (let i = 0; i < 5; i++) {
    const data = Buffer.from(`blob ${i}`);
    await store.putBlob('doomed', sha256Digest(data), verifiedBody(Readable.from([data]), sha256Digest(data), data.length), data.length);
  }
  await store.putEntry('doomed', 'k', Buffer.from('{}'));
  await store.putEntry('kept', 'k', Buffer.from('{}'));
  t.equal(await store.purgeNamespace('doomed'), 7, 'five blobs, the entry and its journal record');
  t.same((await leftovers(`${options.prefix}v1/ns/doomed/`)).objects, []);
  t.ok(await store.getEntry('kept', 'k'), 'other namespaces are untouched');
});
