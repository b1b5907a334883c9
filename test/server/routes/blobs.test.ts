import t from 'tap';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { injectableApp, putBlob } from '../../helpers/app.ts';

const octets = { 'content-type': 'application/octet-stream' };

t.test('PUT stores a blob once: 201, then 200', async (t) => {
  const { app } = await injectableApp(t);
  const data = Buffer.from('part bytes');
  const digest = sha256Digest(data);
  const first = await app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${digest}`, headers: octets, payload: data });
  t.equal(first.statusCode, 201);
  t.same(first.json(), { digest, size: data.length });
  const again = await app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${digest}`, headers: octets, payload: data });
  t.equal(again.statusCode, 200);
});

t.test('PUT with bytes that do not match the digest: 400 and nothing stored', async (t) => {
  const { app } = await injectableApp(t);
  const digest = sha256Digest(Buffer.from('promised'));
  const res = await app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${digest}`, headers: octets, payload: Buffer.from('delivered') });
  t.equal(res.statusCode, 400);
  t.equal(res.json().code, 'LARDER_DIGEST_MISMATCH');
  t.equal((await app.inject({ method: 'HEAD', url: `/v1/ns/team/blobs/${digest}` })).statusCode, 404);
});

t.test('PUT refuses bad digests, missing length, wrong type and oversize blobs', async (t) => {
  const { app } = await injectableApp(t, { limits: { maxBlobBytes: 8 } });
  const small = Buffer.from('tiny');
  const digest = sha256Digest(small);
  const badDigest = await app.inject({ method: 'PUT', url: '/v1/ns/team/blobs/sha256:XYZ', headers: octets, payload: small });
  t.equal(badDigest.json().code, 'LARDER_INVALID_DIGEST');
  const tooBig = Buffer.from('more than eight bytes');
  const big = await app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${sha256Digest(tooBig)}`, headers: octets, payload: tooBig });
  t.equal(big.statusCode, 413);
  t.equal(big.json().code, 'LARDER_TOO_LARGE');
  const json = await app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${digest}`, headers: { 'content-type': 'application/json' }, payload: '"x"' });
  t.equal(json.json().code, 'LARDER_UNSUPPORTED_MEDIA_TYPE');
  const other = await app.inject({ method: 'PUT', url: `/v1/ns/team/blobs/${digest}`, headers: { 'content-type': 'text/plain' }, payload: 'tiny' });
  t.equal(other.statusCode, 415);
  const badNs = await app.inject({ method: 'PUT', url: `/v1/ns/Team/blobs/${digest}`, headers: octets, payload: small });
  t.equal(badNs.json().code, 'LARDER_INVALID_NAMESPACE');
});

t.test('GET and HEAD serve the blob, with ranges', async (t) => {
  const { app } = await injectableApp(t);
  const data = Buffer.from('0123456789');
  const digest = await putBlob(app, 'team', data);
  const url = `/v1/ns/team/blobs/${digest}`;
  const whole = await app.inject({ url });
  t.equal(whole.statusCode, 200);
  t.equal(whole.body, '0123456789');
  t.equal(whole.headers.etag, `"${digest}"`);
  t.equal(whole.headers['accept-ranges'], 'bytes');
  const head = await app.inject({ method: 'HEAD', url });
  t.equal(head.statusCode, 200);
  t.equal(head.headers['content-length'], '10');
  t.equal(head.body, '');
  const cases: Array<[string, number, string, string?]> = [
    ['bytes=2-5', 206, '2345', 'bytes 2-5/10'],
    ['bytes=7-', 206, '789', 'bytes 7-9/10'],
    ['bytes=-3', 206, '789', 'bytes 7-9/10'],
    ['bytes=-30', 206, '0123456789', 'bytes 0-9/10'],
    ['bytes=8-100', 206, '89', 'bytes 8-9/10'],
    ['bytes=0-1,4-5', 200, '0123456789'],
  ];
  for (const [range, status, body, contentRange] of cases) {
    const res = await app.inject({ url, headers: { range } });
    t.equal(res.statusCode, status, range);
    t.equal(res.body, body, range);
    if (contentRange) t.equal(res.headers['content-range'], contentRange, range);
  }
  const beyond = await app.inject({ url, headers: { range: 'bytes=10-' } });
  t.equal(beyond.statusCode, 416);
  t.equal(beyond.json().code, 'LARDER_RANGE_NOT_SATISFIABLE');
});

t.test('a missing blob is a 404 with a code', async (t) => {
  const { app } = await injectableApp(t);
  const res = await app.inject({ url: `/v1/ns/team/blobs/${sha256Digest(Buffer.from('never stored'))}` });
  t.equal(res.statusCode, 404);
  t.equal(res.json().code, 'LARDER_BLOB_NOT_FOUND');
});

t.test('POST blobs/missing lists what is not stored', async (t) => {
  const { app } = await injectableApp(t);
  const stored = await putBlob(app, 'team', Buffer.from('stored'));
  const absent = sha256Digest(Buffer.from('absent'));
  const res = await app.inject({ method: 'POST', url: '/v1/ns/team/blobs/missing', payload: { digests: [stored, absent, absent] } });
  t.equal(res.statusCode, 200);
  t.same(res.json(), { missing: [absent] });
  const bad = await app.inject({ method: 'POST', url: '/v1/ns/team/blobs/missing', payload: { digests: ['md5:abc'] } });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, 'LARDER_BAD_REQUEST');
});

t.test('a download its client breaks off ends quietly, its file closed; the next is whole', async (t) => {
  const { randomBytes } = await import('node:crypto');
  const { connect } = await import('node:net');
  const { request } = await import('undici');
  const { startServer } = await import('../../helpers/server.ts');
  const { url } = await startServer(t);
  const data = randomBytes(16 * 1024 * 1024);
  const digest = sha256Digest(data);
  t.equal((await request(`${url}/v1/ns/team/blobs/${digest}`, { method: 'PUT', headers: octets, body: data })).statusCode, 201);
  const { hostname, port, pathname } = new URL(`${url}/v1/ns/team/blobs/${digest}`);
  for (let i = 0; i < 3; i++) {
    // A client that reads the headers and a little of the body, then goes.
    await new Promise<void>((resolve, reject) => {
      const socket = connect(Number(port), hostname, () => socket.write(`GET ${pathname} HTTP/1.1\r\nhost: ${hostname}\r\n\r\n`));
      let seen = 0;
      socket.on('data', (chunk: Buffer) => {
        seen += chunk.length;
        if (seen > 256 * 1024) socket.destroy();
      });
      socket.on('close', () => resolve());
      socket.on('error', reject);
    });
  }
  // Every blob file the broken-off sends opened is closed again.
  const { readdirSync, readlinkSync } = await import('node:fs');
  const blobFiles = () => readdirSync('/proc/self/fd').filter((fd) => {
    try {
      return readlinkSync(`/proc/self/fd/${fd}`).includes(digest.slice(7));
    } catch {
      return false; // closed meanwhile
    }
  }).length;
  for (let wait = 0; blobFiles() > 0 && wait < 50; wait++) await new Promise((resolve) => setTimeout(resolve, 20));
  t.equal(blobFiles(), 0, 'no blob file left open');
  const whole = await request(`${url}/v1/ns/team/blobs/${digest}`);
  t.equal(whole.statusCode, 200);
  t.same(Buffer.from(await whole.body.arrayBuffer()), data, 'the next download is whole');
});

t.test('an upload over HTTP is freed as it is written, and stored byte for byte', async (t) => {
  const { randomBytes } = await import('node:crypto');
  const { startServer } = await import('../../helpers/server.ts');
  const { CacheClient } = await import('../../../client/transport/transfer.ts');
  const server = await startServer(t);
  const client = new CacheClient({ server: server.url, namespace: 'team' });
  t.teardown(() => client.close());
  const proto = ArrayBuffer.prototype as ArrayBuffer & { transfer: (length?: number) => ArrayBuffer };
  const transfer = proto.transfer;
  let freed = 0;
  proto.transfer = function (this: ArrayBuffer, length?: number) {
    if (length === 0) freed += this.byteLength;
    return transfer.call(this, length);
  };
  t.teardown(() => void (proto.transfer = transfer));
  const data = randomBytes(4 * 1024 * 1024);
  const digest = sha256Digest(data);
  await client.putBlob(digest, data.length, () => data);
  proto.transfer = transfer;
  t.ok(freed > data.length / 2, `the socket's chunks were freed once written (${freed} bytes)`);
  t.equal(data.length, 4 * 1024 * 1024, 'not the bytes the client sent from');
  const back = Buffer.concat(await (await client.getBlob(digest)).toArray());
  t.ok(back.equals(data), 'stored byte for byte');
});
