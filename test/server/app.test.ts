import { readdirSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { sha256Digest } from '../../shared/wire/digest.ts';
import { TokenTable } from '../../server/auth/access.ts';
import { startServer } from '../helpers/server.ts';

t.test('a real listening server serves the routes over HTTP', async (t) => {
  const { url } = await startServer(t);
  const data = Buffer.from('over the wire');
  const digest = sha256Digest(data);
  const put = await request(`${url}/v1/ns/team/blobs/${digest}`, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  t.equal(put.statusCode, 201);
  await put.body.dump();
  const get = await request(`${url}/v1/ns/team/blobs/${digest}`);
  t.equal(await get.body.text(), 'over the wire');
});

t.test('with tokens: 401 without one or with an unknown one, probes stay open', async (t) => {
  const { url } = await startServer(t, { tokens: new TokenTable({ tokens: [{ name: 'ci', sha256: TokenTable.hash('s3cret-token'), admin: true }] }) });
  const lookup = (authorization?: string) =>
    request(`${url}/v1/ns/team/lookup`, { method: 'POST', body: JSON.stringify({ key: 'k' }), headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}) } });
  const none = await lookup();
  t.equal(none.statusCode, 401);
  t.equal(((await none.body.json()) as { code: string }).code, 'LARDER_UNAUTHORIZED');
  const wrong = await lookup('Bearer not-it');
  t.equal(wrong.statusCode, 401);
  t.equal(((await wrong.body.json()) as { code: string }).code, 'LARDER_UNAUTHORIZED');
  const right = await lookup('Bearer s3cret-token');
  t.equal(right.statusCode, 200);
  await right.body.dump();
  const health = await request(`${url}/healthz`);
  t.equal(health.statusCode, 200);
  await health.body.dump();
});

t.test('an upload cut off by the client stores nothing and leaves no temp file', async (t) => {
  const { url, storeDir } = await startServer(t);
  const full = Buffer.alloc(1_000_000, 1);
  const digest = sha256Digest(full);
  const { port } = new URL(url);
  await new Promise<void>((resolve, reject) => {
    const socket = connect(Number(port), '127.0.0.1', () => {
      socket.write(`PUT /v1/ns/team/blobs/${digest} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${full.length}\r\n\r\n`);
      socket.write(full.subarray(0, 300_000), () => setTimeout(() => socket.destroy(), 100));
    });
    socket.on('close', () => resolve());
    socket.on('error', reject);
  });
  await new Promise((r) => setTimeout(r, 200));
  const head = await request(`${url}/v1/ns/team/blobs/${digest}`, { method: 'HEAD' });
  t.equal(head.statusCode, 404, 'the blob does not exist');
  await head.body.dump();
  t.same(readdirSync(join(storeDir, 'tmp')), [], 'the partial temp file is gone');
  const metrics = await (await request(`${url}/metrics`)).body.text();
  t.notMatch(metrics, /larder_store_errors_total\{/, 'a client that went away is not a store error');
});
