import { Readable } from 'node:stream';
import t from 'tap';
import { request } from 'undici';
import { sha256Digest } from '../../shared/wire/digest.ts';
import { startServer } from '../helpers/server.ts';

// Closing right after a response used to wait for the 65 s keep-alive timeout.
t.test('close ends promptly right after a response on a kept-alive connection', async (t) => {
  const server = await startServer(t);
  const data = Buffer.from('already here');
  const url = `${server.url}/v1/ns/team/blobs/${sha256Digest(data)}`;
  for (let i = 0; i < 2; i++) {
    const put = await request(url, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
    await put.body.dump();
  }
  const get = await request(url);
  await get.body.text();
  const started = performance.now();
  await server.app.close();
  t.ok(performance.now() - started < 5_000, `closed in ${Math.round(performance.now() - started)} ms`);
});

t.test('a request in flight finishes before the server closes', async (t) => {
  const server = await startServer(t);
  const data = Buffer.alloc(2 * 1024 * 1024, 3);
  const digest = sha256Digest(data);
  let sent = false;
  const body = Readable.from((async function* () {
    yield data.subarray(0, 1024 * 1024);
    await new Promise((r) => setTimeout(r, 300));
    sent = true;
    yield data.subarray(1024 * 1024);
  })());
  const upload = request(`${server.url}/v1/ns/team/blobs/${digest}`, { method: 'PUT', body, headers: { 'content-type': 'application/octet-stream', 'content-length': String(data.length) } });
  await new Promise((r) => setTimeout(r, 100));
  const closing = server.app.close();
  const res = await upload;
  t.equal(res.statusCode, 201, 'the upload in flight completed');
  await res.body.dump();
  t.ok(sent);
  await closing;
});
