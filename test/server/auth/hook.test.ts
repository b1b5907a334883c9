import t from 'tap';
import { TokenTable } from '../../../server/auth/access.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { injectableApp, manifestFor } from '../../helpers/app.ts';

// Trust tiers: `main` (trusted branch) reads and writes main-*; `pr` (pull requests)
// reads main-* and writes only pr-*; `reader` only reads; `other` belongs elsewhere.
const TOKENS = new TokenTable({
  tokens: [
    { name: 'admin', sha256: TokenTable.hash('t-admin'), admin: true },
    { name: 'main', sha256: TokenTable.hash('t-main'), grants: [{ namespaces: 'acme-*', access: 'read-write', keyPrefixes: ['main-'] }] },
    { name: 'pr', sha256: TokenTable.hash('t-pr'), grants: [{ namespaces: 'acme-*', access: 'read', keyPrefixes: ['main-'] }, { namespaces: 'acme-*', access: 'read-write', keyPrefixes: ['pr-'] }] },
    { name: 'reader', sha256: TokenTable.hash('t-reader'), grants: [{ namespaces: 'acme-web', access: 'read' }] },
    { name: 'other', sha256: TokenTable.hash('t-other'), grants: [{ namespaces: 'globex', access: 'read-write' }] },
  ],
});
const NS = 'acme-web';
const auth = (token: string) => ({ authorization: `Bearer ${token}` });
const octets = (token: string) => ({ ...auth(token), 'content-type': 'application/octet-stream' });

async function setup(t: { teardown: (fn: () => void | Promise<void>) => void }) {
  const { app } = await injectableApp(t, { tokens: TOKENS });
  const data = Buffer.from('a part');
  const digest = sha256Digest(data);
  const asAdmin = {
    blobStored: async (d: string) => (await app.inject({ method: 'HEAD', url: `/v1/ns/${NS}/blobs/${d}`, headers: auth('t-admin') })).statusCode === 200,
    entryStored: async (key: string) => (await app.inject({ url: `/v1/ns/${NS}/entries/${key}`, headers: auth('t-admin') })).statusCode === 200,
  };
  return { app, data, digest, asAdmin };
}

t.test('every route but the probes: 401 without a token or with an unknown one, and nothing stored', async (t) => {
  const { app, data, digest, asAdmin } = await setup(t);
  const routes: Array<{ method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE'; url: string; payload?: unknown; headers?: Record<string, string> }> = [
    { method: 'POST', url: `/v1/ns/${NS}/lookup`, payload: { key: 'main-k' } },
    { method: 'GET', url: `/v1/ns/${NS}/entries/main-k` },
    { method: 'PUT', url: `/v1/ns/${NS}/entries/main-k`, payload: manifestFor('main-k', [digest]) },
    { method: 'DELETE', url: `/v1/ns/${NS}/entries/main-k` },
    { method: 'GET', url: `/v1/ns/${NS}/entries` },
    { method: 'POST', url: `/v1/ns/${NS}/blobs/missing`, payload: { digests: [digest] } },
    { method: 'HEAD', url: `/v1/ns/${NS}/blobs/${digest}` },
    { method: 'GET', url: `/v1/ns/${NS}/blobs/${digest}` },
    { method: 'PUT', url: `/v1/ns/${NS}/blobs/${digest}`, payload: data, headers: { 'content-type': 'application/octet-stream' } },
    { method: 'GET', url: '/v1/stats' },
  ];
  for (const route of routes) {
    for (const authorization of [undefined, 'Bearer nope', 'Basic dXNlcjpwYXNz']) {
      const res = await app.inject({ method: route.method, url: route.url, payload: route.payload as string, headers: { ...route.headers, ...(authorization ? { authorization } : {}) } });
      t.equal(res.statusCode, 401, `${route.method} ${route.url} with ${authorization ?? 'no token'}`);
    }
  }
  t.equal(await asAdmin.blobStored(digest), false, 'no blob stored');
  t.equal(await asAdmin.entryStored('main-k'), false, 'no entry stored');
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'probes stay open');
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
});

t.test('a token outside its namespace: 403 and nothing stored', async (t) => {
  const { app, data, digest, asAdmin } = await setup(t);
  const put = await app.inject({ method: 'PUT', url: `/v1/ns/${NS}/blobs/${digest}`, headers: octets('t-other'), payload: data });
  t.equal(put.statusCode, 403);
  t.equal(put.json().code, 'LARDER_FORBIDDEN');
  t.equal((await app.inject({ method: 'POST', url: `/v1/ns/${NS}/lookup`, headers: auth('t-other'), payload: { key: 'main-k' } })).statusCode, 403);
  t.equal((await app.inject({ url: `/v1/ns/${NS}/entries`, headers: auth('t-other') })).statusCode, 403);
  t.equal(await asAdmin.blobStored(digest), false);
});

t.test('a read-only token reads but cannot write', async (t) => {
  const { app, data, digest, asAdmin } = await setup(t);
  t.equal((await app.inject({ method: 'PUT', url: `/v1/ns/${NS}/blobs/${digest}`, headers: octets('t-reader'), payload: data })).statusCode, 403);
  t.equal((await app.inject({ method: 'POST', url: `/v1/ns/${NS}/blobs/missing`, headers: auth('t-reader'), payload: { digests: [digest] } })).statusCode, 403);
  t.equal(await asAdmin.blobStored(digest), false);
  t.equal((await app.inject({ method: 'PUT', url: `/v1/ns/${NS}/blobs/${digest}`, headers: octets('t-admin'), payload: data })).statusCode, 201);
  t.equal((await app.inject({ url: `/v1/ns/${NS}/blobs/${digest}`, headers: auth('t-reader') })).body, 'a part', 'reading is allowed');
  t.equal((await app.inject({ method: 'PUT', url: `/v1/ns/${NS}/entries/main-k`, headers: auth('t-reader'), payload: manifestFor('main-k', [digest]) })).statusCode, 403);
  t.equal(await asAdmin.entryStored('main-k'), false);
  t.equal((await app.inject({ url: '/v1/stats', headers: auth('t-reader') })).statusCode, 403, 'stats are for admins');
  t.equal((await app.inject({ url: '/v1/stats', headers: auth('t-admin') })).statusCode, 200);
});

t.test('trust tiers: a pull-request token cannot write the trusted tier, and no restore crosses tiers', async (t) => {
  const { app, data, digest, asAdmin } = await setup(t);
  t.equal((await app.inject({ method: 'PUT', url: `/v1/ns/${NS}/blobs/${digest}`, headers: octets('t-pr'), payload: data })).statusCode, 201, 'blobs are content-addressed: any writer may add them');
  const publish = (token: string, key: string) => app.inject({ method: 'PUT', url: `/v1/ns/${NS}/entries/${key}`, headers: auth(token), payload: manifestFor(key, [digest]) });

  const poison = await publish('t-pr', 'main-npm-linux-1');
  t.equal(poison.statusCode, 403, 'a PR cannot publish into main-');
  t.equal(await asAdmin.entryStored('main-npm-linux-1'), false, 'nothing was stored');
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/ns/${NS}/entries/main-npm-linux-1`, headers: auth('t-pr') })).statusCode, 403);

  t.equal((await publish('t-main', 'main-npm-linux-1')).statusCode, 201);
  await new Promise((r) => setTimeout(r, 20));
  t.equal((await publish('t-pr', 'pr-npm-linux-2')).statusCode, 201, 'a PR writes its own tier');
  t.equal((await publish('t-main', 'pr-npm-linux-3')).statusCode, 403, 'and the trusted token stays in its tier too');

  const lookup = (token: string, key: string, restoreKeys: string[]) => app.inject({ method: 'POST', url: `/v1/ns/${NS}/lookup`, headers: auth(token), payload: { key, restoreKeys } });
  // The trusted pipeline, even with crafted restore keys, only ever sees main- entries.
  t.equal((await lookup('t-main', 'main-npm-linux-9', [''])).statusCode, 400, 'an empty restore key is refused outright');
  for (const restoreKeys of [['main-'], ['m', 'p'], ['p', 'pr-'], ['pr-npm-linux-2'], ['pr-', 'main-npm-']]) {
    const res = await lookup('t-main', 'main-npm-linux-9', restoreKeys);
    t.equal(res.statusCode, 200);
    const body = res.json();
    t.not(body.key ?? '', 'pr-npm-linux-2', `restore keys ${JSON.stringify(restoreKeys)} never reach the PR tier`);
    if (body.match !== 'none') t.match(body.key, /^main-/);
  }
  t.equal((await lookup('t-main', 'pr-npm-linux-2', [])).statusCode, 403, 'nor by an exact key');
  t.equal((await app.inject({ url: `/v1/ns/${NS}/entries/pr-npm-linux-2`, headers: auth('t-main') })).statusCode, 403);
  t.same((await app.inject({ url: `/v1/ns/${NS}/entries`, headers: auth('t-main') })).json().entries.map((e: { key: string }) => e.key), ['main-npm-linux-1'], 'listing hides the other tier');

  // A PR pipeline reads the trusted cache as a fallback, and its own tier.
  const prFallback = await lookup('t-pr', 'pr-npm-linux-new', ['pr-npm-', 'main-npm-']);
  t.match(prFallback.json(), { match: 'prefix', key: 'pr-npm-linux-2' });
  t.match((await lookup('t-pr', 'pr-x', ['main-'])).json(), { match: 'prefix', key: 'main-npm-linux-1' });
  t.equal((await app.inject({ method: 'DELETE', url: `/v1/ns/${NS}/entries/main-npm-linux-1`, headers: auth('t-admin') })).statusCode, 204, 'an admin may delete anything');
});

t.test('names are validated before any authorisation decision', async (t) => {
  const { app } = await injectableApp(t, { tokens: TOKENS });
  const res = await app.inject({ url: `/v1/ns/${NS}/entries/main-..%2F..%2Fpr-x`, headers: auth('t-main') });
  t.equal(res.json().code, 'LARDER_INVALID_KEY');
  t.equal((await app.inject({ url: '/v1/ns/ACME-web/entries/main-k', headers: auth('t-main') })).json().code, 'LARDER_INVALID_NAMESPACE');
});

t.test('a static token that looks like a JWT is still the tokens file\'s', async (t) => {
  const { TokenTable } = await import('../../../server/auth/access.ts');
  const { injectableApp } = await import('../../helpers/app.ts');
  const dotted = 'aaaa.bbbb.cccc';
  const tokens = new TokenTable({ tokens: [{ name: 'dotted', sha256: TokenTable.hash(dotted), admin: true }], oidc: [{ name: 'gh', issuer: 'https://token.actions.githubusercontent.com', audience: 'larder', claims: { repository: 'acme/web' }, grants: [{ namespaces: 'acme', access: 'read' }] }] });
  const { app } = await injectableApp(t, { tokens });
  t.equal((await app.inject({ url: '/v1/stats', headers: { authorization: `Bearer ${dotted}` } })).statusCode, 200);
});
