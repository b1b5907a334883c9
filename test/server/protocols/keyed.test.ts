import { createHash, randomBytes } from 'node:crypto';
import t from 'tap';
import { TokenTable } from '../../../server/auth/access.ts';
import { s3Skip } from '../../helpers/external/s3.ts';
import { startServer } from '../../helpers/server.ts';

// What every keyed protocol shares (server/protocols/keyed.ts), seen over HTTP: one blob
// for the same bytes whichever tool sent them, larder's own included; what an untrusted
// token wrote is served to no one and a trusted write replaces it; an artifact whose bytes
// were collected is a miss, and the next write makes it whole; counted in /metrics.

const TOKENS = new TokenTable({
  tokens: [
    { name: 'ci', sha256: TokenTable.hash('ci-token'), grants: [{ namespaces: 'team', access: 'read-write' }] },
    { name: 'forks', sha256: TokenTable.hash('fork-token'), untrusted: true, grants: [{ namespaces: 'team', access: 'read-write' }] },
    { name: 'ops', sha256: TokenTable.hash('ops-token'), admin: true },
  ],
});

const auth = (token: string) => ({ authorization: `Bearer ${token}` });

t.test('the same bytes are one blob, whichever protocol (or larder itself) stored them', async (t) => {
  const server = await startServer(t, { tokens: TOKENS });
  const bytes = randomBytes(10_000);
  const digest = `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
  const larder = await fetch(`${server.url}/v1/ns/team/blobs/${digest}`, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream', 'content-length': String(bytes.length) }, body: bytes });
  t.equal(larder.status, 201, 'larder\'s own upload');
  for (const url of ['/v1/cache/42', '/ccache/team/ab/cdef0123', '/gradle/team/0123456789abcdef0123456789abcdef']) {
    const res = await fetch(`${server.url}${url}`, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: bytes });
    t.ok(res.ok, `${url}: stored`);
  }
  const blobs: string[] = [];
  const { FsStore } = await import('../../../server/storage/fs.ts');
  for await (const blob of (await new FsStore(server.storeDir).init()).listBlobs('team')) blobs.push(blob.digest);
  t.same(blobs, [digest], 'one blob for four names');
  for (const url of ['/v1/cache/42', '/ccache/team/ab/cdef0123', '/gradle/team/0123456789abcdef0123456789abcdef']) {
    const res = await fetch(`${server.url}${url}`, { headers: auth('ci-token') });
    t.ok(Buffer.from(await res.arrayBuffer()).equals(bytes), `${url}: served`);
  }
});

t.test('an untrusted token\'s artifact is served to no one; a trusted write replaces it', async (t) => {
  const server = await startServer(t, { tokens: TOKENS });
  const url = `${server.url}/v8/artifacts/0123456789abcdef?slug=team`;
  const put = (token: string, body: string) => fetch(url, { method: 'PUT', headers: { ...auth(token), 'content-type': 'application/octet-stream' }, body });
  t.equal((await put('fork-token', 'planted')).status, 202);
  t.equal((await fetch(url, { headers: auth('ci-token') })).status, 404, 'not served to a trusted token');
  t.equal((await fetch(url, { headers: auth('fork-token') })).status, 404, 'nor to the untrusted one');
  t.equal((await put('ci-token', 'genuine')).status, 202);
  t.equal(await (await fetch(url, { headers: auth('ci-token') })).text(), 'genuine', 'the trusted write took its place');
  t.equal((await put('fork-token', 'planted again')).status, 202, 'an untrusted write over a trusted artifact is accepted');
  t.equal(await (await fetch(url, { headers: auth('ci-token') })).text(), 'genuine', 'and changes nothing');
});

t.test('a Turborepo team names the namespace; with no team, the token\'s own', async (t) => {
  const server = await startServer(t, { tokens: TOKENS });
  const put = (query: string) => fetch(`${server.url}/v8/artifacts/00000000000000aa${query}`, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: 'x' });
  t.equal((await put('?slug=team')).status, 202, 'slug team → namespace team');
  t.equal((await put('?teamId=Team')).status, 202, 'teamId, lower-cased');
  t.equal((await put('')).status, 202, 'no team: the token\'s one namespace (team)');
  const other = await put('?slug=other');
  t.equal(other.status, 403, 'a team the token has no grant for');
  t.match(await other.json(), { error: { code: 'forbidden' } });
});

t.test('an artifact whose bytes were collected is a miss, and the next write makes it whole', async (t) => {
  const server = await startServer(t, { tokens: TOKENS });
  const url = `${server.url}/v1/cache/777`;
  t.equal((await fetch(url, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: 'first bytes' })).status, 200);
  const { FsStore } = await import('../../../server/storage/fs.ts');
  const store = await new FsStore(server.storeDir).init();
  await store.deleteBlob('team', `sha256:${createHash('sha256').update('first bytes').digest('hex')}`);
  t.equal((await fetch(url, { headers: auth('ci-token') })).status, 404, 'a miss, not an error');
  t.equal((await fetch(url, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: 'second bytes' })).status, 200);
  t.equal(await (await fetch(url, { headers: auth('ci-token') })).text(), 'second bytes');
  const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth('ops-token') })).text();
  t.match(metrics, /larder_protocol_requests_total\{protocol="nx",namespace="team",result="hit"\} 1/);
  t.match(metrics, /larder_protocol_requests_total\{protocol="nx",namespace="team",result="miss"\} 1/);
  t.match(metrics, /larder_protocol_bytes_total\{protocol="nx",direction="in"\} 23/);
});

t.test('on S3: every protocol\'s artifact streams in through a staging object and comes back whole', { skip: s3Skip }, async (t) => {
  const server = await startServer(t, { tokens: TOKENS }, 's3');
  const bytes = randomBytes(3 * 1024 * 1024 + 17);
  const sha = createHash('sha256').update(bytes).digest('hex');
  for (const url of ['/v8/artifacts/0123456789abcdef?slug=team', '/v1/cache/99', `/bazel/team/cas/${sha}`, '/gradle/team/00112233445566778899aabbccddeeff', '/ccache/team/0a/bcdef']) {
    const put = await fetch(`${server.url}${url}`, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: bytes });
    t.ok(put.ok, `${url}: stored (${put.status})`);
    await put.arrayBuffer();
    const get = await fetch(`${server.url}${url}`, { headers: auth('ci-token') });
    t.ok(Buffer.from(await get.arrayBuffer()).equals(bytes), `${url}: the same bytes back`);
  }
});

t.test('a corrupt artifact is never served whole: a miss or a broken transfer, the blob goes, the next read is a miss', async (t) => {
  const server = await startServer(t, { tokens: TOKENS });
  const bytes = randomBytes(200_000);
  for (const url of ['/v1/cache/5150', '/v8/artifacts/00000000000000cc?slug=team']) {
    t.ok((await fetch(`${server.url}${url}`, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: bytes })).ok);
  }
  t.equal(await server.corruptBlobs(), 1, 'one blob, a byte flipped in its middle, its size the same (as a torn write leaves it)');
  const broken = await fetch(`${server.url}/v1/cache/5150`, { headers: auth('ci-token') });
  // Read in one chunk it is found corrupt before a byte goes out: a miss. Read in several, the transfer breaks.
  const servedWhole = broken.ok && (await broken.arrayBuffer().then(() => true, () => false));
  t.notOk(servedWhole, `never served whole (status ${broken.status})`);
  // The removal runs as the transfer fails; give it a moment on a loaded machine.
  for (let i = 0; i < 50 && (await fetch(`${server.url}/v1/cache/5150`, { headers: auth('ci-token') }).then((r) => (r.arrayBuffer().catch(() => {}), r.status))) !== 404; i++) await new Promise((r) => setTimeout(r, 100));
  t.equal((await fetch(`${server.url}/v1/cache/5150`, { headers: auth('ci-token') })).status, 404, 'then a miss: the corrupt blob was removed');
  t.equal((await fetch(`${server.url}/v8/artifacts/00000000000000cc?slug=team`, { headers: auth('ci-token') })).status, 404, 'for every key that shared it');
  t.ok((await fetch(`${server.url}/v1/cache/5150`, { method: 'PUT', headers: { ...auth('ci-token'), 'content-type': 'application/octet-stream' }, body: bytes })).ok);
  t.ok(Buffer.from(await (await fetch(`${server.url}/v1/cache/5150`, { headers: auth('ci-token') })).arrayBuffer()).equals(bytes), 'and the next write makes it whole');
  const metrics = await (await fetch(`${server.url}/metrics`, { headers: auth('ops-token') })).text();
  t.match(metrics, /larder_corrupt_blobs_removed_total\{namespace="team"\} 1/);
});

