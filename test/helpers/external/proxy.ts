import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';

/**
 * A real HTTP proxy in front of a larder server that forwards every request, except
 * those `intercept` takes (it returns true): the way tests make a network misbehave.
 */
export async function misbehavingProxy(
  t: { teardown: (fn: () => void) => void },
  upstream: string,
  intercept: (req: IncomingMessage, res: ServerResponse) => boolean,
): Promise<string> {
  const proxy = createServer(async (req, res) => {
    if (intercept(req, res)) return;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of req) chunks.push(chunk as Buffer);
    } catch {
      return void res.destroy(); // the client gave up on its request mid-body: nothing to pass on
    }
    const answer = await request(`${upstream}${req.url}`, {
      method: req.method as 'GET',
      headers: { 'content-type': req.headers['content-type'] ?? 'application/json' },
      body: chunks.length ? Buffer.concat(chunks) : undefined,
    });
    res.writeHead(answer.statusCode, { 'content-type': String(answer.headers['content-type'] ?? 'application/json') });
    res.end(Buffer.from(await answer.body.arrayBuffer()));
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  t.teardown(() => {
    proxy.closeAllConnections();
    proxy.close();
  });
  return `http://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
}
