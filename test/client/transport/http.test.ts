import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
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

t.test('a body in pieces (a stored part: headers between blocks) arrives as their bytes in a row', async (t) => {
  const memory = randomBytes(300_000);
  const pieces = [memory.subarray(290_000, 290_013), memory.subarray(0, 131_072), memory.subarray(290_013, 290_016), memory.subarray(131_072, 200_000)];
  const { url, received } = await collector(t);
  const agents = new Agents();
  t.teardown(() => agents.destroy());
  const size = pieces.reduce((sum, piece) => sum + piece.length, 0);
  for (let i = 0; i < 2; i++) {
    const res = await send({ method: 'PUT', url, headers: { 'content-length': String(size) }, body: pieces, idleTimeoutMs: 10_000 }, agents);
    t.equal(await readText(res), 'ok');
    t.ok(received().equals(Buffer.concat(pieces)), `request ${i + 1}: the pieces in order, nothing else`);
  }
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
