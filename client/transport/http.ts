import { open } from 'node:fs/promises';
import type { ClientRequest, Agent as HttpAgent, IncomingMessage } from 'node:http';
import type { Agent as HttpsAgent } from 'node:https';
import type { Writable } from 'node:stream';
import { LarderError } from '../../shared/errors.ts';
import { FileBody } from '../../shared/file-body.ts';

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
  body?: Buffer | string | FromFile | SelfSending;
  signal?: AbortSignal;
  /** no byte from the server for this long (waiting for headers, or between body chunks) */
  idleTimeoutMs: number;
  /** a new connection not established within this long */
  connectTimeoutMs?: number;
}

/** A file's bytes as a body (a part too big for memory, compressed into the save's spill folder). */
export interface FromFile {
  file: string;
}

/** A body made as it is sent, which writes itself (a stored part read again from its files: client/archive/reread.ts). */
export interface SelfSending {
  sendTo(to: Writable): Promise<void>;
}

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
    else if ('sendTo' in req.body) req.body.sendTo(outgoing).then(() => outgoing.end(), (err: Error) => outgoing.destroy(err));
    else sendFile(req.body.file, outgoing).catch((err: Error) => outgoing.destroy(err));
  });
}

/** The file in two reused buffers, each written again once the socket has taken it (shared/file-body.ts). */
async function sendFile(path: string, outgoing: ClientRequest): Promise<void> {
  await new FileBody(await open(path, 'r')).sendTo(outgoing);
  outgoing.end();
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
