import { open } from 'node:fs/promises';
import type { ClientRequest, Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import { LarderError } from '../../shared/errors.ts';

// A small HTTP/1.1 client on node:http: keep-alive, a connect timeout, an idle timeout
// covering the wait for headers and every gap in the body, and an abort signal. The npm undici package takes
// ~130 ms to import, paid by every CLI run and every worker thread. node:http is taken
// with getBuiltinModule: an ESM import of it copies every export, and one of them is a
// getter that loads Node's own undici (~30 ms of CPU). node:https is loaded only for an
// https URL: loading it starts parsing the CA certificates on a thread of its own, ~50 ms
// of CPU with NODE_EXTRA_CA_CERTS set, which a save to an http server pays for nothing.

const { Agent: HttpAgentClass, request: httpRequest } = process.getBuiltinModule('node:http');

export interface HttpRequest {
  method: string;
  url: URL;
  headers: Record<string, string>;
  body?: Buffer | string | FileBody;
  signal?: AbortSignal;
  /** no byte from the server for this long (waiting for headers, or between body chunks) */
  idleTimeoutMs: number;
  /** a new connection not established within this long */
  connectTimeoutMs?: number;
}

/** A file's bytes as a body (a part too big for memory, compressed into the save's spill folder). */
export interface FileBody {
  file: string;
}

/**
 * A file body is read in chunks this big, into two buffers by turns, each read into again
 * only once the socket has taken it. With 64 KiB reads the 140 MB binary of next.js took
 * ~0.1 s longer to save; with a fresh buffer per read (a file stream), ~30 MB of them
 * waited for the garbage collector at a save's peak (heaptrack).
 */
const FILE_CHUNK_BYTES = 1024 * 1024;

export class HttpTimeoutError extends Error {
  readonly code = 'LARDER_HTTP_IDLE_TIMEOUT';
}

const AGENT_OPTIONS = { keepAlive: true, maxSockets: 32 };

/** A client's kept-alive connections: one agent per scheme, the https one made on first use. */
export class Agents {
  readonly http: HttpAgent = new HttpAgentClass(AGENT_OPTIONS);
  #https: { agent: HttpsAgent; request: typeof httpRequest } | undefined;

  https(): { agent: HttpsAgent; request: typeof httpRequest } {
    if (!this.#https) {
      const { Agent, request } = process.getBuiltinModule('node:https');
      this.#https = { agent: new Agent(AGENT_OPTIONS), request };
    }
    return this.#https;
  }

  destroy(): void {
    this.http.destroy();
    this.#https?.agent.destroy();
  }
}

export function send(req: HttpRequest, agents: Agents): Promise<IncomingMessage> {
  const { agent, request } = req.url.protocol === 'https:' ? agents.https() : { agent: agents.http, request: httpRequest };
  const headers = { ...req.headers };
  if (typeof req.body === 'string' || Buffer.isBuffer(req.body)) headers['content-length'] = String(Buffer.byteLength(req.body));
  return new Promise((resolve, reject) => {
    const outgoing = request(req.url, { method: req.method, headers, agent, signal: req.signal }, (res) => {
      // The idle timer stays armed while the body streams: a stalled download fails too.
      resolve(res);
    });
    outgoing.setTimeout(req.idleTimeoutMs, () => outgoing.destroy(new HttpTimeoutError(`did not answer within ${req.idleTimeoutMs / 1000} s`)));
    const connectMs = req.connectTimeoutMs;
    if (connectMs !== undefined) {
      outgoing.once('socket', (socket) => {
        if (!socket.connecting) return; // a kept-alive connection
        const timer = setTimeout(() => outgoing.destroy(new HttpTimeoutError(`could not connect within ${connectMs / 1000} s`)), connectMs);
        socket.once('connect', () => clearTimeout(timer));
        socket.once('close', () => clearTimeout(timer));
      });
    }
    outgoing.once('error', reject);
    if (req.body === undefined || typeof req.body === 'string' || Buffer.isBuffer(req.body)) outgoing.end(req.body);
    else sendFile(req.body.file, outgoing).catch((err: Error) => outgoing.destroy(err));
  });
}

async function sendFile(path: string, outgoing: ClientRequest): Promise<void> {
  // Destroyed (a timeout, an abort, the server hanging up), the request may never call back a write.
  const closed = new Promise<never>((_, reject) => outgoing.once('close', () => reject(new Error('the request closed'))));
  closed.catch(() => {});
  const file = await open(path, 'r');
  try {
    const buffers = [Buffer.allocUnsafeSlow(FILE_CHUNK_BYTES), Buffer.allocUnsafeSlow(FILE_CHUNK_BYTES)] as const;
    const written: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    for (let turn = 0; ; turn ^= 1) {
      await Promise.race([written[turn], closed]);
      const buffer = buffers[turn as 0 | 1];
      const { bytesRead } = await file.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      const chunk = bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead);
      written[turn] = new Promise((resolve, reject) => outgoing.write(chunk, (err) => (err ? reject(err) : resolve())));
      written[turn]?.catch(() => {}); // awaited in its turn
    }
    await Promise.race([Promise.all(written), closed]);
    outgoing.end();
  } finally {
    await file.close();
  }
}

/** No answer of the protocol comes near this (a manifest is at most 4 MiB): a bigger one is refused as it arrives. */
export const MAX_ANSWER_BYTES = 16 * 1024 * 1024;

export async function readText(res: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let bytes = 0;
  for await (const chunk of res) {
    bytes += (chunk as Buffer).length;
    if (bytes > MAX_ANSWER_BYTES) {
      res.destroy();
      throw new LarderError('LARDER_BAD_RESPONSE', `the server's answer is larger than ${MAX_ANSWER_BYTES / 1024 / 1024} MiB; no real answer is`);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

export async function readJson<T>(res: IncomingMessage): Promise<T> {
  const text = await readText(res);
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new LarderError('LARDER_BAD_RESPONSE', `the server's answer is not JSON: ${JSON.stringify(text.slice(0, 100))}`);
  }
}

/** Reads and drops a body, so its connection can be reused. */
export async function drain(res: IncomingMessage): Promise<void> {
  for await (const _ of res);
}
