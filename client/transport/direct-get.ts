import type { Socket } from 'node:net';
import { HttpTimeoutError } from './http.ts';

// A blob's GET over a plain-HTTP connection of the client's own, its body read by the
// kernel straight into the part's memory (a socket's `onread` buffer). Through node:http
// each 64 KiB of a body is read into new memory, copied again by the parser and once more
// into the part: receiving m2's 144 MB took ~0.38 CPU-s that way (undici ~0.25), and
// ~0.065 like this. Only the one answer a blob GET should get is read here: 200 with a
// Content-Length of the part's size and no other framing. Anything else (an error
// status, another length, chunked, a head past HEAD_LIMIT) is left to the ordinary path
// (transfer.ts), which reads it again with node:http and says what went wrong.

const { connect } = process.getBuiltinModule('node:net');

/** No answer's head to a blob GET comes near this. */
const HEAD_LIMIT = 16 * 1024;
/** Reads land here until the head has arrived: at most this much at a time. */
const SCRATCH_BYTES = 16 * 1024;
/** Kept-alive connections waiting for the next GET; a restore runs a handful at once. */
const IDLE_LIMIT = 16;
/** A header value that may go on the wire as it is. */
const HEADER_VALUE = /^[\x20-\x7e]*$/;

export interface DirectGet {
  url: URL;
  headers: Record<string, string>;
  size: number;
  /** the memory the body is read into, asked for once the head says it is the blob */
  take: (size: number) => Buffer;
  signal?: AbortSignal;
  idleTimeoutMs: number;
  connectTimeoutMs: number;
  /** the head has arrived (progress, for the stall watchdog) */
  onHead?: () => void;
}

/** The answer's head was not the one this path reads: ask again the ordinary way. */
export const NOT_DIRECT = Symbol('not direct');

/** What one connection is doing: reading a head into the connection's `head`, or a body into `body`. */
interface Reading {
  headLength: number;
  body?: Buffer;
  received: number;
  /** the next answer is the last on this connection */
  last: boolean;
  /** the head has been parsed: the memory for the body, or NOT_DIRECT */
  onHead: (head: Head) => Buffer | typeof NOT_DIRECT;
  done: (result: Buffer | typeof NOT_DIRECT | Error) => void;
}

interface Head {
  status: number;
  length?: number;
  chunked: boolean;
  close: boolean;
}

interface Connection {
  socket: Socket;
  reading?: Reading;
  /** memory each read lands in while no body is being read */
  scratch: Buffer;
  /** the head read so far: room for HEAD_LIMIT and one more read */
  head: Buffer;
  /** takes a kept connection the server closed off the idle list */
  forget?: () => void;
}

/** Plain-HTTP GETs of blobs with kept-alive connections, one set per origin. */
export class DirectGets {
  readonly #idle = new Map<string, Connection[]>();

  /** Whether this request can go this way at all: plain HTTP, headers as they are. */
  static usable(url: URL, headers: Record<string, string>): boolean {
    return url.protocol === 'http:' && Object.entries(headers).every(([name, value]) => /^[\w-]+$/.test(name) && HEADER_VALUE.test(value));
  }

  /**
   * The blob's bytes, or NOT_DIRECT when the answer is anything but the blob whole.
   * Rejects with the connection's error (HttpTimeoutError for a stall) when it fails.
   */
  async get(req: DirectGet): Promise<Buffer | typeof NOT_DIRECT> {
    const kept = this.#idle.get(req.url.host)?.pop();
    if (kept && !kept.socket.destroyed) {
      if (kept.forget) kept.socket.off('close', kept.forget);
      // The server may have closed a kept connection just as it was taken: before any byte
      // of an answer arrives, that is asked again on a new one.
      const result = await this.#exchange(kept, req).catch((err: unknown) => ((err as StaleError).stale ? undefined : Promise.reject(err)));
      if (result !== undefined) return result;
    }
    return this.#exchange(await open(req), req);
  }

  close(): void {
    for (const connections of this.#idle.values()) for (const c of connections) c.socket.destroy();
    this.#idle.clear();
  }

  #exchange(connection: Connection, req: DirectGet): Promise<Buffer | typeof NOT_DIRECT> {
    const { socket } = connection;
    socket.ref();
    return new Promise((resolve, reject) => {
      const onAbort = () => socket.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
      const onTimeout = () => socket.destroy(new HttpTimeoutError(`did not answer within ${req.idleTimeoutMs / 1000} s`));
      const finish = (result: Buffer | typeof NOT_DIRECT | Error) => {
        connection.reading = undefined;
        socket.setTimeout(0);
        socket.off('timeout', onTimeout);
        socket.off('close', onClose);
        req.signal?.removeEventListener('abort', onAbort);
        if (result instanceof Error) {
          socket.destroy();
          // No byte of an answer and not a timeout: the server had closed the connection.
          const stale = reading.headLength === 0 && !(result instanceof HttpTimeoutError) && result.name !== 'AbortError';
          reject(Object.assign(result, { stale }));
          return;
        }
        if (result === NOT_DIRECT || reading.last || socket.destroyed) socket.destroy();
        else this.#keep(req.url.host, connection);
        resolve(result);
      };
      const reading: Reading = {
        headLength: 0,
        received: 0,
        last: false,
        onHead: (head) => {
          req.onHead?.();
          if (head.status !== 200 || head.length !== req.size || head.chunked) return NOT_DIRECT;
          reading.last = head.close;
          return req.take(req.size);
        },
        done: finish,
      };
      const onClose = () => finish(socket.errored ?? Object.assign(new Error('the server closed the connection'), { code: 'ECONNRESET' }));
      connection.reading = reading;
      socket.once('close', onClose);
      socket.setTimeout(req.idleTimeoutMs, onTimeout);
      if (req.signal?.aborted) return onAbort();
      req.signal?.addEventListener('abort', onAbort, { once: true });
      const lines = [`GET ${req.url.pathname}${req.url.search} HTTP/1.1`, `host: ${req.url.host}`, ...Object.entries(req.headers).map(([name, value]) => `${name}: ${value}`)];
      socket.write(`${lines.join('\r\n')}\r\n\r\n`);
    });
  }

  #keep(host: string, connection: Connection): void {
    const connections = this.#idle.get(host) ?? [];
    if (connections.length >= IDLE_LIMIT) return void connection.socket.destroy();
    connection.socket.unref(); // an idle connection never keeps the process alive
    connections.push(connection);
    this.#idle.set(host, connections);
    connection.forget = () => {
      const i = connections.indexOf(connection);
      if (i >= 0) connections.splice(i, 1);
    };
    connection.socket.once('close', connection.forget);
  }
}

/** A new connection whose reads land in the body being read, or in scratch memory. */
function open(req: DirectGet): Promise<Connection> {
  return new Promise((resolve, reject) => {
    const connection = { scratch: Buffer.allocUnsafe(SCRATCH_BYTES), head: Buffer.allocUnsafe(HEAD_LIMIT + SCRATCH_BYTES) } as Connection;
    const socket = connect({
      host: req.url.hostname.replace(/^\[|\]$/g, ''),
      port: Number(req.url.port || 80),
      noDelay: true,
      onread: {
        buffer: () => nextBuffer(connection),
        callback: (bytes, buf) => {
          received(connection, bytes, buf as Buffer);
          return true;
        },
      },
    });
    connection.socket = socket;
    const timer = setTimeout(() => socket.destroy(new HttpTimeoutError(`could not connect within ${req.connectTimeoutMs / 1000} s`)), req.connectTimeoutMs);
    const onAbort = () => socket.destroy(Object.assign(new Error('aborted'), { name: 'AbortError' }));
    req.signal?.addEventListener('abort', onAbort, { once: true });
    if (req.signal?.aborted) onAbort();
    const settle = (err?: Error) => {
      clearTimeout(timer);
      req.signal?.removeEventListener('abort', onAbort);
      socket.off('error', settle);
      if (err) reject(err);
      else resolve(connection);
    };
    socket.once('connect', () => settle());
    socket.once('error', settle);
    socket.on('error', () => {}); // reported by whoever is reading, through 'close'
  });
}

/** Where the next read lands: the rest of the body being read, else scratch memory. */
function nextBuffer(connection: Connection): Buffer {
  const reading = connection.reading;
  if (reading?.body && reading.received < reading.body.length) return reading.body.subarray(reading.received);
  return connection.scratch;
}

function received(connection: Connection, bytes: number, buf: Buffer): void {
  const reading = connection.reading;
  // Bytes while no GET waits are no answer to anything: the connection is unusable.
  if (!reading) return void connection.socket.destroy();
  // Once the head is read, every read lands in the body (nextBuffer).
  if (reading.body) {
    reading.received += bytes;
    if (reading.received === reading.body.length) reading.done(reading.body);
    return;
  }
  // Short of HEAD_LIMIT before this read, so this read fits (connection.head).
  const { head: headBytes } = connection;
  buf.copy(headBytes, reading.headLength, 0, bytes);
  reading.headLength += bytes;
  const end = headBytes.subarray(0, reading.headLength).indexOf('\r\n\r\n');
  if (end < 0 && reading.headLength < HEAD_LIMIT) return;
  const head = end >= 0 && end <= HEAD_LIMIT ? parseHead(headBytes.toString('latin1', 0, end)) : undefined;
  let body: Buffer | typeof NOT_DIRECT;
  try {
    body = head ? reading.onHead(head) : NOT_DIRECT;
  } catch {
    body = NOT_DIRECT; // no memory for the part: the ordinary path meets the same and says so
  }
  if (body === NOT_DIRECT) return reading.done(NOT_DIRECT);
  // What came with the head is the body's start; an answer longer than its length is not the blob.
  const start = headBytes.subarray(end + 4, reading.headLength);
  if (start.length > body.length) return reading.done(NOT_DIRECT);
  start.copy(body);
  reading.body = body;
  reading.received = start.length;
  if (reading.received === body.length) reading.done(body);
}

/** Status, Content-Length and how the connection goes on; undefined for what is not an HTTP/1.x head. */
function parseHead(text: string): Head | undefined {
  const [statusLine = '', ...fields] = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) (\d{3})(?: |$)/.exec(statusLine);
  if (!status) return undefined;
  let length: number | undefined;
  let chunked = false;
  let close = status[1] === '0';
  for (const field of fields) {
    const colon = field.indexOf(':');
    if (colon <= 0) return undefined;
    const name = field.slice(0, colon).trim().toLowerCase();
    const value = field.slice(colon + 1).trim();
    if (name === 'content-length') {
      if (!/^\d{1,15}$/.test(value) || (length !== undefined && length !== Number(value))) return undefined;
      length = Number(value);
    } else if (name === 'transfer-encoding') chunked = true;
    else if (name === 'connection') close = /\bclose\b/i.test(value);
  }
  return { status: Number(status[2]), length, chunked, close };
}

interface StaleError extends Error {
  stale?: boolean;
}
