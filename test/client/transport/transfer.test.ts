import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import t from 'tap';
import { CacheClient } from '../../../client/transport/transfer.ts';
import { startServer } from '../../helpers/server.ts';

/** A real HTTP server whose answers the test scripts, one per request. */
async function scriptedServer(t: { teardown: (fn: () => void) => void }, answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<{ url: string; count: () => number }> {
  let n = 0;
  const server = createServer((req, res) => {
    req.resume();
    answer(n++, req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, count: () => n };
}

const client = (server: string, extra = {}) => new CacheClient({ server, namespace: 'team', backoffMs: 5, ...extra });

t.test('retries 503s with backoff, then succeeds', async (t) => {
  const server = await scriptedServer(t, (n, _req, res) => {
    if (n < 2) res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"LARDER_STORE_UNAVAILABLE","message":"busy"}');
    else res.writeHead(200, { 'content-type': 'application/json' }).end('{"match":"none"}');
  });
  t.same(await client(server.url).lookup('k', []), { match: 'none' });
  t.equal(server.count(), 3);
});

t.test('does not retry a 4xx; maps the code', async (t) => {
  const server = await scriptedServer(t, (_n, _req, res) => res.writeHead(400, { 'content-type': 'application/json' }).end('{"code":"LARDER_INVALID_KEY","message":"bad key"}'));
  await t.rejects(client(server.url).lookup('k', []), { code: 'LARDER_INVALID_KEY' });
  t.equal(server.count(), 1);
});

t.test('an answer that is not ours is a bad response', async (t) => {
  const server = await scriptedServer(t, (_n, _req, res) => res.writeHead(404).end('<html>proxy page</html>'));
  await t.rejects(client(server.url).lookup('k', []), { code: 'LARDER_BAD_RESPONSE' });
});

t.test('an unreachable server is LARDER_UNREACHABLE, and the breaker then stops calling', async (t) => {
  const server = await scriptedServer(t, (_n, req, res) => req.socket.destroy());
  const c = client(server.url, { retries: 0 });
  for (let i = 0; i < 3; i++) await t.rejects(c.lookup('k', []), { code: 'LARDER_UNREACHABLE' });
  const before = server.count();
  await t.rejects(c.lookup('k', []), { code: 'LARDER_UNREACHABLE', message: /stopped calling/ });
  t.equal(server.count(), before, 'the open breaker made no request');
  const refused = new CacheClient({ server: 'http://127.0.0.1:1', namespace: 'team', retries: 0 });
  await t.rejects(refused.lookup('k', []), { code: 'LARDER_UNREACHABLE' });
});

t.test('a server that stops answering is a timeout, not a hang', async (t) => {
  const server = await scriptedServer(t, () => {});
  const c = client(server.url, { retries: 0, idleTimeoutMs: 200 });
  await t.rejects(c.lookup('k', []), { code: 'LARDER_TIMEOUT' });
  const deadline = client(server.url, { retries: 0, signal: AbortSignal.timeout(150) });
  await t.rejects(deadline.lookup('k', []), { code: 'LARDER_TIMEOUT' });
});

t.test('against a real larder server: blobs and entries round-trip', async (t) => {
  const { url } = await startServer(t);
  const c = client(url);
  const data = Buffer.from('part');
  const { sha256Digest } = await import('../../../shared/wire/digest.ts');
  const digest = sha256Digest(data);
  t.same(await c.missing([digest]), [digest]);
  await c.putBlob(digest, data.length, () => data);
  t.same(await c.missing([digest]), []);
  const chunks: Buffer[] = [];
  for await (const chunk of await c.getBlob(digest)) chunks.push(chunk as Buffer);
  t.equal(Buffer.concat(chunks).toString(), 'part');
  t.equal(await c.getEntry('k'), undefined);
  await c.close();
});

t.test('uploads that keep failing open the breaker, even while blobs/missing keeps answering', async (t) => {
  const server = await scriptedServer(t, (_n, req, res) => {
    req.resume();
    if (req.method === 'POST') res.writeHead(200, { 'content-type': 'application/json' }).end('{"missing":[]}');
    else res.writeHead(503, { 'content-type': 'application/json' }).end('{"code":"LARDER_STORE_UNAVAILABLE","message":"store down"}');
  });
  const c = client(server.url, { retries: 0 });
  const digest = `sha256:${'a'.repeat(64)}`;
  for (let i = 0; i < 3; i++) {
    t.same(await c.missing([digest]), [], 'blobs/missing answers');
    await t.rejects(c.putBlob(digest, 1, () => Buffer.from('x')), { code: 'LARDER_STORE_UNAVAILABLE' });
  }
  const before = server.count();
  await t.rejects(c.missing([digest]), { code: 'LARDER_UNREACHABLE', message: /stopped calling .* after 3 failures in a row \(PUT blobs\)/ });
  t.equal(server.count(), before, 'the open breaker made no request');
});

t.test('the client checks the server\'s answers against what it asked', async (t) => {
  const entry = (key: string) => ({ version: 2, key, createdAt: '2026-01-01T00:00:00Z', codec: 'zstd', paths: [], inputs: {}, client: { version: '0', os: 'linux', arch: 'x64' } });
  const lying: Array<[string, unknown]> = [
    ['an exact hit for another key', { match: 'exact', key: 'other', entry: entry('other') }],
    ['an exact hit whose entry names another key', { match: 'exact', key: 'k', entry: entry('other') }],
    ['a prefix hit outside every restore key', { match: 'prefix', key: 'elsewhere-1', entry: entry('elsewhere-1') }],
    ['a key with a newline (a second cache-hit line in GITHUB_OUTPUT)', { match: 'prefix', key: 'npm-\ncache-hit=true', entry: entry('npm-\ncache-hit=true') }],
    ['a match that is no match', { match: 'maybe' }],
  ];
  for (const [what, body] of lying) {
    const server = await scriptedServer(t, (_n, _req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify(body)));
    await t.rejects(client(server.url).lookup('k', ['npm-']), { code: 'LARDER_BAD_RESPONSE' }, what);
  }
  const honest = await scriptedServer(t, (_n, _req, res) => res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ match: 'prefix', key: 'npm-1', entry: entry('npm-1') })));
  t.match(await client(honest.url).lookup('k', ['npm-']), { match: 'prefix', key: 'npm-1' }, 'an honest prefix hit passes');
});

t.test('an answer bigger than any real one is refused before it is held', async (t) => {
  const server = await scriptedServer(t, (_n, _req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    let sent = 0;
    const more = (): void => {
      while (sent < 64 && res.write(chunk)) sent++;
      if (sent < 64) res.once('drain', more);
      else res.end('{}');
    };
    more();
  });
  await t.rejects(client(server.url).lookup('k', []), { code: 'LARDER_BAD_RESPONSE', message: /larger than 16 MiB/ });
});

t.test('a redirect is not success, and a server URL keeps its path', async (t) => {
  const redirect = await scriptedServer(t, (_n, _req, res) => res.writeHead(302, { location: 'http://elsewhere.example/' }).end());
  await t.rejects(client(redirect.url).lookup('k', []), { code: 'LARDER_BAD_RESPONSE', message: /302/ });
  const paths: string[] = [];
  const prefixed = await scriptedServer(t, (_n, req, res) => {
    paths.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'application/json' }).end('{"match":"none"}');
  });
  await client(`${prefixed.url}/larder/`).lookup('k', []);
  await client(`${prefixed.url}/cache`).lookup('k', []);
  t.same(paths, ['/larder/v1/ns/team/lookup', '/cache/v1/ns/team/lookup'], 'the token goes to the path it was given for');
});
