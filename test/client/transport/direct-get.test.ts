import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { type AddressInfo, createServer as createTcpServer, type Socket } from 'node:net';
import t from 'tap';
import { DirectGets, type DirectGet, NOT_DIRECT } from '../../../client/transport/direct-get.ts';
import { HttpTimeoutError } from '../../../client/transport/http.ts';

// A blob's GET read straight into the part's memory. It must give the blob's bytes
// whatever reads they arrive in, keep its connection for the next GET, and leave every
// answer that is not the blob whole (an error, another length, chunked, a huge head) to
// the ordinary path, taking no memory for it. A stall fails within the idle timeout, and
// a kept connection the server has closed meanwhile is not an error.

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

interface TestServer {
  url: URL;
  connections: () => number;
  /** resolves when the server has closed a connection on its side */
  closed: () => Promise<void>;
}

async function httpServer(t: { teardown: (fn: () => Promise<void>) => void }, handle: Handler, keepAliveTimeout = 5000): Promise<TestServer> {
  const server = createHttpServer(handle);
  server.keepAliveTimeout = keepAliveTimeout;
  let connections = 0;
  let onClosed = () => {};
  server.on('connection', (socket: Socket) => {
    connections++;
    socket.once('close', () => onClosed());
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/ns/team/blobs/b`);
  return { url, connections: () => connections, closed: () => new Promise<void>((resolve) => (onClosed = resolve)) };
}

function get(url: URL, size: number, extra: Partial<DirectGet> = {}): DirectGet & { taken: number[] } {
  const taken: number[] = [];
  return { url, headers: { authorization: 'Bearer secret' }, size, take: (n) => (taken.push(n), Buffer.alloc(n)), idleTimeoutMs: 2000, connectTimeoutMs: 2000, taken, ...extra };
}

t.test('the blob arrives whole over many reads, with the request as asked, and the connection serves the next GET', async (t) => {
  const blob = randomBytes(3 * 1024 * 1024 + 777);
  const seen: Array<{ url?: string; auth?: string }> = [];
  const { url, connections } = await httpServer(t, (req, res) => {
    seen.push({ url: req.url, auth: req.headers.authorization });
    res.writeHead(200, { 'content-length': blob.length });
    // In pieces of odd sizes, with pauses: the head and the body's start come apart.
    let at = 0;
    const next = () => {
      if (at >= blob.length) return void res.end();
      const piece = blob.subarray(at, at + 65_537 + (at % 3));
      at += piece.length;
      res.write(piece, () => setImmediate(next));
    };
    next();
  });
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  for (let i = 0; i < 3; i++) {
    const req = get(url, blob.length);
    const bytes = await gets.get(req);
    t.ok(bytes !== NOT_DIRECT && bytes.equals(blob), `GET ${i + 1}: byte for byte`);
    t.same(req.taken, [blob.length], 'memory taken once, of the blob\'s size');
  }
  t.same(seen[0], { url: '/v1/ns/team/blobs/b', auth: 'Bearer secret' });
  t.equal(connections(), 1, 'one connection for three GETs');
});

t.test('a head that comes in two reads, the second full of the body', async (t) => {
  const blob = randomBytes(1024 * 1024);
  const server = createTcpServer((socket: Socket) => {
    socket.once('data', () => {
      socket.write('HTTP/1.1 200 OK\r\ncontent-');
      setTimeout(() => socket.write(Buffer.concat([Buffer.from(`length: ${blob.length}\r\n\r\n`), blob])), 100);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  const bytes = await gets.get(get(new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/b`), blob.length));
  t.ok(bytes !== NOT_DIRECT && bytes.equals(blob), 'read directly, byte for byte');
});

t.test('a blob of no bytes, and one that comes with its head in one read', async (t) => {
  const small = Buffer.from('tiny part');
  const { url } = await httpServer(t, (req, res) => {
    const body = req.url?.endsWith('/empty') ? Buffer.alloc(0) : small;
    res.writeHead(200, { 'content-length': body.length }).end(body);
  });
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  const empty = await gets.get(get(new URL('/empty', url), 0));
  t.ok(empty !== NOT_DIRECT && empty.length === 0, 'no bytes');
  const tiny = await gets.get(get(url, small.length));
  t.ok(tiny !== NOT_DIRECT && tiny.equals(small), 'head and body in one read');
});

t.test('an answer other than the blob whole is left to the ordinary path, with no memory taken for it', async (t) => {
  const { url, connections } = await httpServer(t, (req, res) => {
    const what = new URL(req.url ?? '/', 'http://x').searchParams.get('what');
    if (what === 'missing') return void res.writeHead(404, { 'content-type': 'application/json' }).end('{"code":"LARDER_NOT_FOUND"}');
    if (what === 'short') return void res.writeHead(200, { 'content-length': 3 }).end('abc');
    if (what === 'huge') return void res.writeHead(200, { 'content-length': 10 ** 12 }).end();
    if (what === 'chunked') return void res.writeHead(200).end('abcd'); // no length: chunked
    if (what === 'head') return void res.writeHead(200, { 'content-length': 4, 'x-filler': 'f'.repeat(20_000) }).end('abcd');
    res.writeHead(200, { 'content-length': 4 }).end('abcd');
  });
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  for (const what of ['missing', 'short', 'huge', 'chunked', 'head']) {
    const req = get(new URL(`?what=${what}`, url), 4);
    t.equal(await gets.get(req), NOT_DIRECT, `${what}: not direct`);
    t.same(req.taken, [], `${what}: no memory taken`);
  }
  const before = connections();
  const bytes = await gets.get(get(url, 4));
  t.ok(bytes !== NOT_DIRECT && bytes.toString() === 'abcd', 'the next GET works');
  t.equal(connections(), before + 1, 'on a new connection: one that carried an answer left unread is not kept');
});

t.test('a kept connection the server has closed since is not an error; Connection: close is not kept', async (t) => {
  const { url, connections, closed } = await httpServer(
    t,
    (req, res) => res.writeHead(200, { 'content-length': 4, ...(req.url?.endsWith('close') ? { connection: 'close' } : {}) }).end('abcd'),
    50,
  );
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  const idleClosed = closed();
  t.not(await gets.get(get(url, 4)), NOT_DIRECT);
  await idleClosed; // the server's keep-alive timeout passed
  await new Promise((resolve) => setTimeout(resolve, 50)); // and the client has seen the close
  const again = await gets.get(get(url, 4));
  t.ok(again !== NOT_DIRECT && again.toString() === 'abcd', 'asked again on a new connection');
  t.equal(connections(), 2);
  const closeUrl = new URL('/close', url);
  t.not(await gets.get(get(closeUrl, 4)), NOT_DIRECT, 'on the kept connection, which the answer closes');
  t.not(await gets.get(get(closeUrl, 4)), NOT_DIRECT);
  t.equal(connections(), 3, 'an answer saying close leaves its connection unused');
});

t.test('a kept connection the server resets as the next GET goes out is asked again on a new one', async (t) => {
  // A raw server: it answers the first GET on a connection, then resets it on the next.
  let connections = 0;
  const server = createTcpServer((socket: Socket) => {
    connections++;
    let requests = 0;
    socket.on('data', () => {
      if (++requests === 1) socket.write('HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\nabcd');
      else socket.resetAndDestroy();
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  const url = new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/b`);
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  await gets.get(get(url, 4));
  const bytes = await gets.get(get(url, 4));
  t.ok(bytes !== NOT_DIRECT && bytes.toString() === 'abcd');
  t.equal(connections, 2);
});

t.test('a body that stalls fails within the idle timeout, and an abort ends a GET at once', async (t) => {
  const { url } = await httpServer(t, (_req, res) => {
    res.writeHead(200, { 'content-length': 100 });
    res.write('only the start'); // and nothing more
  });
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  const started = Date.now();
  await t.rejects(gets.get(get(url, 100, { idleTimeoutMs: 300 })), { code: new HttpTimeoutError().code });
  t.ok(Date.now() - started < 5000, 'failed, not hung');
  const controller = new AbortController();
  const pending = gets.get(get(url, 100, { signal: controller.signal }));
  setTimeout(() => controller.abort(), 100);
  await t.rejects(pending, { name: 'AbortError' });
});

t.test('a server that is not there is an error of the connection, not a hang', async (t) => {
  const server = createTcpServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  const gets = new DirectGets();
  await t.rejects(gets.get(get(new URL(`http://127.0.0.1:${port}/b`), 4)), { code: 'ECONNREFUSED' });
});

t.test('no memory for the part leaves it to the ordinary path', async (t) => {
  const { url } = await httpServer(t, (_req, res) => res.writeHead(200, { 'content-length': 4 }).end('abcd'));
  const gets = new DirectGets();
  t.teardown(() => gets.close());
  const take = () => {
    throw new RangeError('Array buffer allocation failed');
  };
  t.equal(await gets.get(get(url, 4, { take })), NOT_DIRECT);
});

t.test('only plain HTTP with header values fit for the wire goes this way', async (t) => {
  t.ok(DirectGets.usable(new URL('http://larder.internal:7373/'), { authorization: 'Bearer abc' }));
  t.notOk(DirectGets.usable(new URL('https://larder.internal/'), {}), 'https');
  t.notOk(DirectGets.usable(new URL('http://larder.internal/'), { authorization: 'Bearer a\r\nx-evil: 1' }), 'a value that would add a header');
});
