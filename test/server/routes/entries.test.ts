import t from 'tap';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { injectableApp, manifestFor, putBlob } from '../../helpers/app.ts';

t.test('publish: 201, then 409 for the same key; GET returns the first', async (t) => {
  const { app } = await injectableApp(t);
  const digest = await putBlob(app, 'team', Buffer.from('part'));
  const manifest = manifestFor('npm-linux-abc', [digest]);
  const first = await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/npm-linux-abc', payload: manifest });
  t.equal(first.statusCode, 201);
  const second = await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/npm-linux-abc', payload: { ...manifest, inputs: { other: 'x' } } });
  t.equal(second.statusCode, 409);
  t.equal(second.json().code, 'LARDER_ENTRY_EXISTS');
  const got = await app.inject({ url: '/v1/ns/team/entries/npm-linux-abc' });
  t.equal(got.statusCode, 200);
  t.same(got.json(), { ...manifest, publisher: { name: 'open server' } }, 'as published, and who published it');
});

t.test('publish with a part that is not stored: 422 naming it, nothing published', async (t) => {
  const { app } = await injectableApp(t);
  const stored = await putBlob(app, 'team', Buffer.from('stored'));
  const absent = sha256Digest(Buffer.from('never uploaded'));
  const res = await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/k', payload: manifestFor('k', [stored, absent]) });
  t.equal(res.statusCode, 422);
  t.equal(res.json().code, 'LARDER_MISSING_BLOBS');
  t.same(res.json().missing, [absent]);
  t.equal((await app.inject({ url: '/v1/ns/team/entries/k' })).statusCode, 404);
});

t.test('publish refuses manifests that are malformed or name another key', async (t) => {
  const { app } = await injectableApp(t);
  const digest = await putBlob(app, 'team', Buffer.from('p'));
  const good = manifestFor('k1', [digest]);
  const cases: Array<[string, unknown, string]> = [
    ['another key inside', manifestFor('k2', [digest]), 'LARDER_INVALID_MANIFEST'],
    ['unknown codec', { ...good, codec: 'gzip' }, 'LARDER_BAD_REQUEST'],
    ['extra field', { ...good, extra: 1 }, 'LARDER_BAD_REQUEST'],
    ['bad digest', { ...good, paths: [{ ...good.paths[0], parts: [{ digest: 'sha256:zz', size: 1, rawSize: 1, entries: 1 }] }] }, 'LARDER_BAD_REQUEST'],
    ['no paths', { ...good, paths: [] }, 'LARDER_BAD_REQUEST'],
    ['paths without a single part (an empty entry)', { ...good, paths: [{ ...good.paths[0], parts: [] }] }, 'LARDER_INVALID_MANIFEST'],
    ['negative size', { ...good, paths: [{ ...good.paths[0], files: -1 }] }, 'LARDER_BAD_REQUEST'],
  ];
  for (const [name, body, code] of cases) {
    const res = await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/k1', payload: body as object });
    t.equal(res.json().code, code, name);
  }
  const notJson = await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/k1', headers: { 'content-type': 'application/json' }, payload: '{not json' });
  t.equal(notJson.json().code, 'LARDER_BAD_REQUEST');
  t.equal((await app.inject({ url: '/v1/ns/team/entries/k1' })).statusCode, 404, 'nothing was published');
});

t.test('a manifest over the size limit is refused with 413', async (t) => {
  const { app } = await injectableApp(t, { limits: { maxManifestBytes: 2048 } });
  const digest = await putBlob(app, 'team', Buffer.from('p'));
  const big = manifestFor('k', Array.from({ length: 40 }, () => digest));
  const res = await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/k', payload: big });
  t.equal(res.statusCode, 413);
  t.equal(res.json().code, 'LARDER_TOO_LARGE');
});

t.test('keys are checked: bad characters and over-long keys are refused', async (t) => {
  const { app } = await injectableApp(t);
  t.equal((await app.inject({ url: '/v1/ns/team/entries/has%20space' })).json().code, 'LARDER_INVALID_KEY');
  t.equal((await app.inject({ url: `/v1/ns/team/entries/${'k'.repeat(251)}` })).json().code, 'LARDER_INVALID_KEY');
  t.equal((await app.inject({ url: `/v1/ns/team/entries/${'k'.repeat(250)}` })).json().code, 'LARDER_ENTRY_NOT_FOUND');
  t.equal((await app.inject({ url: '/v1/ns/team/entries/..%2F..%2Fetc' })).json().code, 'LARDER_INVALID_KEY');
});

t.test('list by prefix, newest first, and delete', async (t) => {
  const { app } = await injectableApp(t);
  const digest = await putBlob(app, 'team', Buffer.from('p'));
  for (const key of ['npm-1', 'npm-2', 'pip-1']) {
    await app.inject({ method: 'PUT', url: `/v1/ns/team/entries/${key}`, payload: manifestFor(key, [digest]) });
    await new Promise((r) => setTimeout(r, 15));
  }
  const listed = await app.inject({ url: '/v1/ns/team/entries?prefix=npm-' });
  t.same(listed.json().entries.map((e: { key: string }) => e.key), ['npm-2', 'npm-1']);
  t.same((await app.inject({ url: '/v1/ns/team/entries?limit=1' })).json().entries.map((e: { key: string }) => e.key), ['pip-1']);
  t.equal((await app.inject({ url: '/v1/ns/team/entries?limit=0' })).statusCode, 400);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/ns/team/entries/npm-2' })).statusCode, 204);
  t.equal((await app.inject({ method: 'DELETE', url: '/v1/ns/team/entries/npm-2' })).statusCode, 404);
  t.same((await app.inject({ url: '/v1/ns/team/entries?prefix=npm-' })).json().entries.map((e: { key: string }) => e.key), ['npm-1']);
});
