import { randomBytes } from 'node:crypto';
import t from 'tap';
import { request } from 'undici';
import { TokenTable } from '../../../../server/auth/access.ts';
import { buildApp } from '../../../../server/app.ts';
import { Retention } from '../../../../server/retention/retention.ts';
import { FsStore } from '../../../../server/storage/fs.ts';
import { S3Store } from '../../../../server/storage/s3.ts';
import { s3Skip, s3StoreOptions } from '../../../helpers/external/s3.ts';
import { startServer } from '../../../helpers/server.ts';
import { tempDir } from '../../../helpers/tmp.ts';

// The protocol over real HTTP, where @actions/cache does not go: refusals, capability
// URLs tampered with or misused, Azure blocks out of order, ranges, untrusted publishers,
// what retention does with the blocks, and a second server honouring the first's URLs.

type Tap = Pick<typeof t, 'equal'>;

const TWIRP = '/twirp/github.actions.results.api.v1.CacheService';
const TOKENS = new TokenTable({
  tokens: [
    { name: 'main', sha256: TokenTable.hash('main-token'), grants: [{ namespaces: 'gha', access: 'read-write' }] },
    { name: 'reader', sha256: TokenTable.hash('reader-token'), grants: [{ namespaces: 'gha', access: 'read' }] },
    { name: 'forks', sha256: TokenTable.hash('fork-token'), untrusted: true, grants: [{ namespaces: 'gha', access: 'read-write' }] },
  ],
});

async function twirp(url: string, method: string, body: object, token?: string): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await request(`${url}${TWIRP}/${method}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
  return { status: res.statusCode, json: (await res.body.json()) as Record<string, unknown> };
}

async function put(url: string, body: Buffer | string, contentType = 'application/octet-stream'): Promise<number> {
  const res = await request(url, { method: 'PUT', headers: { 'content-type': contentType }, body });
  await res.body.dump();
  return res.statusCode;
}

/** Saves `archive` under key and version by blocks (sent last to first) and a block list. */
async function saveByBlocks(t: Tap, url: string, token: string, key: string, version: string, blocks: Buffer[]): Promise<Record<string, unknown>> {
  const created = await twirp(url, 'CreateCacheEntry', { key, version }, token);
  const upload = String(created.json.signed_upload_url);
  const ids = blocks.map((_, i) => Buffer.from(`block-${String(i).padStart(6, '0')}`).toString('base64'));
  for (let i = blocks.length - 1; i >= 0; i--) t.equal(await put(`${upload}?comp=block&blockid=${encodeURIComponent(ids[i] as string)}`, blocks[i] as Buffer), 201);
  const list = `<?xml version="1.0" encoding="utf-8"?><BlockList>${ids.map((id) => `<Latest>${id}</Latest>`).join('')}</BlockList>`;
  t.equal(await put(`${upload}?comp=blocklist`, list, 'application/xml'), 201);
  return (await twirp(url, 'FinalizeCacheEntryUpload', { key, version, size_bytes: String(Buffer.concat(blocks).length) }, token)).json;
}

t.test('refusals are Twirp JSON, with the prefixes the client recognises', async (t) => {
  const { url } = await startServer(t, { tokens: TOKENS });
  const none = await twirp(url, 'GetCacheEntryDownloadURL', { key: 'k', version: 'v' });
  t.match(none, { status: 401, json: { code: 'unauthenticated', msg: /Authorization: Bearer/ } });
  const denied = await twirp(url, 'CreateCacheEntry', { key: 'k', version: 'v' }, 'reader-token');
  t.match(denied, { status: 403, json: { code: 'permission_denied', msg: /^cache write denied: token reader may not write/ } });
  t.match(await twirp(url, 'GetCacheEntryDownloadURL', { key: 'k', version: 'v' }, 'reader-token'), { status: 200, json: { ok: false } }, 'a reader misses');
  t.match(await twirp(url, 'CreateCacheEntry', { key: 'a,b', version: 'v' }, 'main-token'), { status: 400, json: { code: 'invalid_argument', msg: /without commas/ } });
  t.match(await twirp(url, 'NoSuchMethod', { version: 'v' }, 'main-token'), { status: 404, json: { code: 'bad_route' } });
});

for (const backend of ['fs', 's3'] as const) t.test(`blocks out of order make one archive; ranges are served; tampered or misused URLs are refused (${backend})`, { skip: backend === 's3' && s3Skip }, async (t) => {
  const { url } = await startServer(t, { tokens: TOKENS }, backend);
  const blocks = [randomBytes(300_000), randomBytes(5), randomBytes(70_000)];
  const archive = Buffer.concat(blocks);
  t.match(await saveByBlocks(t, url, 'main-token', 'node-deps-1', 'v1', blocks), { ok: true });
  const found = await twirp(url, 'GetCacheEntryDownloadURL', { key: 'node-deps-2', restore_keys: ['node-deps-'], version: 'v1' }, 'reader-token');
  t.match(found.json, { ok: true, matched_key: 'node-deps-1' });
  const download = String(found.json.signed_download_url);
  const whole = await request(download);
  t.ok(Buffer.from(await whole.body.arrayBuffer()).equals(archive), 'the blocks in list order, not upload order');
  const part = await request(download, { headers: { range: 'bytes=10-19' } });
  t.equal(part.statusCode, 206);
  t.ok(Buffer.from(await part.body.arrayBuffer()).equals(archive.subarray(10, 20)), 'a range');

  const fields = download.split('/').at(-1)?.split('~') ?? [];
  const forged = download.replace(/~[^~]+$/, `~${'A'.repeat(fields.at(-1)?.length ?? 43)}`);
  t.equal((await request(forged)).statusCode, 403, 'a forged signature');
  const otherDigest = download.replace(/~([0-9a-f]{64})~/, `~${'0'.repeat(64)}~`);
  t.equal((await request(otherDigest)).statusCode, 403, 'another archive named under the same signature');
  const created = await twirp(url, 'CreateCacheEntry', { key: 'node-deps-9', version: 'v1' }, 'main-token');
  const upload = String(created.json.signed_upload_url);
  t.equal((await request(upload)).statusCode, 403, 'an upload URL does not download');
  t.equal(await put(download, 'x'), 403, 'a download URL does not upload');
  t.match(await twirp(url, 'CreateCacheEntry', { key: 'node-deps-9', version: 'v1' }, 'main-token'), { status: 409, json: { msg: /another job is uploading/ } }, 'one upload per entry at a time');
  t.equal(await put(`${upload}?comp=blocklist`, '<BlockList><Latest>bm9uZQ==</Latest></BlockList>', 'application/xml'), 400, 'a list naming a block never sent');
});

t.test('an untrusted token\'s entries are passed over by everyone else', async (t) => {
  const { url } = await startServer(t, { tokens: TOKENS });
  t.match(await saveByBlocks(t, url, 'fork-token', 'deps-pr', 'v1', [randomBytes(1000)]), { ok: true });
  t.match((await twirp(url, 'GetCacheEntryDownloadURL', { key: 'deps-pr', version: 'v1' }, 'main-token')).json, { ok: false }, 'a trusted job does not take what a fork wrote');
});

t.test('retention: the blocks go a grace period after the archive is assembled; the entry and its archive stay', async (t) => {
  const store = await new FsStore(tempDir(t, 'gha-retention')).init();
  const retention = new Retention(store, { graceMs: 0 });
  const app = await buildApp({ store, tokens: TOKENS, retention });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const blocks = [randomBytes(100_000), randomBytes(100_000)];
  t.match(await saveByBlocks(t, url, 'main-token', 'kept', 'v1', blocks), { ok: true });
  const blobs = async () => {
    const found: string[] = [];
    for await (const blob of store.listBlobs('gha')) found.push(blob.digest);
    return found;
  };
  t.equal((await blobs()).length, 3, 'two blocks and the archive');
  await retention.collectNow(); // finds the blocks unreferenced
  await retention.collectNow(); // and deletes them, the grace period (0) over
  t.equal((await blobs()).length, 1, 'the blocks were collected');
  const found = await twirp(url, 'GetCacheEntryDownloadURL', { key: 'kept', version: 'v1' }, 'main-token');
  const res = await request(String(found.json.signed_download_url));
  t.ok(Buffer.from(await res.body.arrayBuffer()).equals(Buffer.concat(blocks)), 'the archive still downloads');
});

for (const backend of ['fs', 's3'] as const) t.test(`two servers on one store: either honours the other's URLs (${backend})`, { skip: backend === 's3' && s3Skip }, async (t) => {
  const dir = tempDir(t, 'gha-fleet');
  const options = backend === 's3' ? await s3StoreOptions() : undefined;
  const serve = async () => {
    const app = await buildApp({ store: options ? new S3Store(options) : await new FsStore(dir).init(), tokens: TOKENS });
    const url = await app.listen({ host: '127.0.0.1', port: 0 });
    t.teardown(() => app.close());
    return url;
  };
  const first = { url: await serve() };
  const secondUrl = await serve();
  const created = await twirp(first.url, 'CreateCacheEntry', { key: 'shared', version: 'v1' }, 'main-token');
  const viaSecond = String(created.json.signed_upload_url).replace(first.url, secondUrl);
  const archive = randomBytes(50_000);
  t.equal(await put(viaSecond, archive), 201, 'the second server takes the first one\'s upload URL');
  t.match((await twirp(secondUrl, 'FinalizeCacheEntryUpload', { key: 'shared', version: 'v1', size_bytes: String(archive.length) }, 'main-token')).json, { ok: true });
  const found = await twirp(first.url, 'GetCacheEntryDownloadURL', { key: 'shared', version: 'v1' }, 'main-token');
  const res = await request(String(found.json.signed_download_url).replace(first.url, secondUrl));
  t.ok(Buffer.from(await res.body.arrayBuffer()).equals(archive), 'and serves the archive at the first one\'s download URL');
});
