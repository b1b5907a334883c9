import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Writable } from 'node:stream';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { Agents, readText, send } from '../../../client/transport/http.ts';
import { startServer } from '../../helpers/server.ts';
import { tempDir } from '../../helpers/tmp.ts';

// node:https is loaded only for an https server: loading it makes Node parse the CA
// certificates on a thread of its own (~50 ms of CPU with NODE_EXTRA_CA_CERTS set), which
// every save and restore to an http server paid for nothing.

const transfer = fileURLToPath(new URL('../../../client/transport/transfer.ts', import.meta.url));

t.test('a client of an http server never loads node:https; of an https one it does', async (t) => {
  const { url } = await startServer(t);
  // Not execFileSync: the server runs in this process and must answer meanwhile.
  const loads = async (server: string): Promise<boolean> => {
    const script = `const { CacheClient } = await import(${JSON.stringify(transfer)});
      const client = new CacheClient({ server: ${JSON.stringify(server)}, namespace: 'team', backoffMs: 1 });
      console.log(JSON.stringify(await client.lookup('k', []).catch((err) => err.code)));
      await client.close();
      console.log(process.moduleLoadList.some((m) => m === 'NativeModule https'));`;
    const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    const [answer, loaded] = stdout.trim().split('\n');
    t.equal(answer, server === url ? '{"match":"none"}' : '"LARDER_UNREACHABLE"', `${server}: the lookup went as it should`);
    return loaded === 'true';
  };
  t.equal(await loads(url), false, 'http: not loaded');
  t.equal(await loads('https://127.0.0.1:9'), true, 'https: loaded when asked for');
});

// A file body (a part too big for memory) is read into two buffers by turns, each read
// into again only once the socket has taken it: the server must get every byte in order,
// and a server that hangs up mid-body must fail the request, not leave it waiting.

async function receiver(t: { teardown: (fn: () => Promise<void>) => void }, handle: (req: IncomingMessage, res: ServerResponse) => void): Promise<URL> {
  const server = createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  t.teardown(() => new Promise<void>((resolve) => server.close(() => resolve())));
  return new URL(`http://127.0.0.1:${(server.address() as AddressInfo).port}/blob`);
}

/** A receiver that answers 'ok' and keeps the last body it got. */
async function collector(t: { teardown: (fn: () => Promise<void>) => void }): Promise<{ url: URL; received: () => Buffer }> {
  let last = Buffer.alloc(0);
  const url = await receiver(t, async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    last = Buffer.concat(chunks);
    res.end('ok');
  });
  return { url, received: () => last };
}

t.test('a file body arrives byte for byte, over many reads of the file', async (t) => {
  const bytes = randomBytes(5 * 1024 * 1024 + 12_345); // five full reads and a short one
  const file = join(tempDir(t), 'part.zst');
  writeFileSync(file, bytes);
  const { url, received } = await collector(t);
  const agents = new Agents();
  t.teardown(() => agents.destroy());
  const res = await send({ method: 'PUT', url, headers: { 'content-length': String(bytes.length) }, body: { file }, idleTimeoutMs: 10_000 }, agents);
  t.equal(await readText(res), 'ok');
  t.ok(received().equals(bytes), 'the same bytes, in order');
});

t.test('a body that sends itself (a stored part read again from its files) arrives as it wrote it; one that fails, fails the request', async (t) => {
  const bytes = randomBytes(3 * 1024 * 1024 + 7);
  const { url, received } = await collector(t);
  const agents = new Agents();
  t.teardown(() => agents.destroy());
  const write = (to: Writable, chunk: Buffer) => new Promise<void>((resolve, reject) => to.write(chunk, (err) => (err ? reject(err) : resolve())));
  const body = { sendTo: async (to: Writable) => {
    for (let at = 0; at < bytes.length; at += 1 << 20) await write(to, bytes.subarray(at, at + (1 << 20)));
  } };
  for (let i = 0; i < 2; i++) {
    const res = await send({ method: 'PUT', url, headers: { 'content-length': String(bytes.length) }, body, idleTimeoutMs: 10_000 }, agents);
    t.equal(await readText(res), 'ok');
    t.ok(received().equals(bytes), `request ${i + 1}: its bytes in order, nothing else`);
  }
  const quiet = await receiver(t, (req) => req.on('error', () => {}).resume());
  const failure = new Error('a file changed while it was being saved');
  const failing = { sendTo: async (to: Writable) => {
    await write(to, bytes.subarray(0, 1000));
    throw failure;
  } };
  await t.rejects(send({ method: 'PUT', url: quiet, headers: { 'content-length': String(bytes.length) }, body: failing, idleTimeoutMs: 10_000 }, agents), failure, 'the request fails with what failed');
});

t.test('a server that hangs up mid-body fails the request; nothing waits on it', async (t) => {
  const file = join(tempDir(t), 'part.zst');
  writeFileSync(file, randomBytes(8 * 1024 * 1024));
  const url = await receiver(t, (req) => {
    let got = 0;
    req.on('data', (chunk: Buffer) => {
      got += chunk.length;
      if (got > 1024 * 1024) req.socket.destroy(); // gone after the first MiB
    });
  });
  const agents = new Agents();
  t.teardown(() => agents.destroy());
  await t.rejects(send({ method: 'PUT', url, headers: { 'content-length': String(8 * 1024 * 1024) }, body: { file }, idleTimeoutMs: 10_000 }, agents), 'the request fails');
});
