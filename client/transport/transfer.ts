import type { IncomingMessage } from 'node:http';
import type { Readable } from 'node:stream';
import { DirectGets, NOT_DIRECT } from './direct-get.ts';
import { Agents, drain, type FromFile, HttpTimeoutError, readJson, readText, type SelfSending, send } from './http.ts';
import { type ErrorCode, isErrorCode, LarderError } from '../../shared/errors.ts';
import type { Manifest } from '../../shared/wire/manifest.ts';
import { KEY_PATTERN } from '../../shared/wire/names.ts';
import { blobPath, type ClientReport, type EntryListResponse, type EntrySummary, entryPath, type LookupResponse, type MissingResponse, type VerifyResponse } from '../../shared/wire/protocol.ts';

// Talks to a larder server. Every request has connect and idle timeouts and obeys the
// command's overall deadline; idempotent requests (all of ours: blobs are content-
// addressed, entries first-writer-wins) are retried with backoff on network faults and
// 5xx/429; after BREAKER_THRESHOLD failures in a row of one kind of call (uploads, say)
// the circuit opens and every further call fails at once instead of making the build
// wait on a broken server. Other kinds of call that succeed meanwhile (a store that
// cannot write still answers blobs/missing) do not close it.

export interface TransferOptions {
  server: string;
  namespace: string;
  token?: string;
  /** aborts every request when the command's overall deadline passes */
  signal?: AbortSignal;
  retries?: number;
  /** no byte from the server for this long fails the request (default 8 s) */
  idleTimeoutMs?: number;
  /** a connection not made within this long fails the request (default 3 s) */
  connectTimeoutMs?: number;
  backoffMs?: number;
  /** called whenever a response arrives: progress, for the stall watchdog */
  onProgress?: () => void;
}

const BREAKER_THRESHOLD = 3;
const DEFAULT_RESPONSE_TIMEOUT_MS = 8_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 3_000;
const RETRYABLE_STATUS = new Set([429, 500, 502, 503, 504]);

type Body = Buffer | FromFile | SelfSending;

interface Call {
  method: 'GET' | 'HEAD' | 'POST' | 'PUT' | 'DELETE';
  path: string;
  json?: unknown;
  /** a fresh body for each attempt */
  body?: () => Body;
  headers?: Record<string, string>;
  /** statuses that are answers rather than errors */
  accept?: number[];
}

export class CacheClient {
  readonly #base: URL;
  readonly #ns: string;
  readonly #options: TransferOptions;
  readonly #agents = new Agents();
  readonly #direct = new DirectGets();
  /** failures in a row, by kind of call (method and route) */
  readonly #failuresInARow = new Map<string, number>();
  /** the server has answered at least once: only then is a timeout worth a retry */
  #answered = false;
  /** why the server is not called any more, when it never answered */
  #deadBecause: LarderError | undefined;

  constructor(options: TransferOptions) {
    this.#options = options;
    this.#ns = options.namespace;
    this.#base = serverUrl(options.server);
  }

  /**
   * probe: a save looking for the entry it builds on, which the server does not count as a
   * hit or miss; allowUntrusted: take entries an untrusted token published (a probe may: it
   * only reuses parts by digest, never restores them)
   */
  async lookup(key: string, restoreKeys: string[], { probe = false, allowUntrusted = probe }: { probe?: boolean; allowUntrusted?: boolean } = {}): Promise<LookupResponse> {
    const json = { key, restoreKeys, ...(probe ? { probe } : {}), ...(allowUntrusted ? { allowUntrusted } : {}) };
    const res = await this.#call({ method: 'POST', path: `/v1/ns/${this.#ns}/lookup`, json });
    return checkedLookup(await readJson<LookupResponse>(res), key, restoreKeys);
  }

  /** Entries whose key starts with prefix, newest first. */
  async listEntries(prefix: string, limit: number): Promise<EntrySummary[]> {
    const query = new URLSearchParams({ prefix, limit: String(limit) });
    const res = await this.#call({ method: 'GET', path: `/v1/ns/${this.#ns}/entries?${query}` });
    return (await readJson<EntryListResponse>(res)).entries;
  }

  /** The entry's manifest, or undefined when there is none. */
  async getEntry(key: string): Promise<Manifest | undefined> {
    const res = await this.#call({ method: 'GET', path: entryPath(this.#ns, key), accept: [404] });
    if (res.statusCode === 404) {
      await drain(res);
      return undefined;
    }
    return readJson<Manifest>(res);
  }

  /** Removes an entry; false when there was none. */
  async deleteEntry(key: string): Promise<boolean> {
    const res = await this.#call({ method: 'DELETE', path: entryPath(this.#ns, key), accept: [404] });
    await drain(res);
    return res.statusCode === 204;
  }

  /** With sizes (one per digest), a blob stored with another size counts as missing too. */
  async missing(digests: string[], sizes?: number[]): Promise<string[]> {
    const res = await this.#call({ method: 'POST', path: `/v1/ns/${this.#ns}/blobs/missing`, json: sizes ? { digests, sizes } : { digests } });
    return (await readJson<MissingResponse>(res)).missing;
  }

  /** Asks the server to hash its copy of a blob that arrived corrupt; it removes a corrupt one. */
  async verifyBlob(digest: string): Promise<VerifyResponse> {
    const res = await this.#call({ method: 'POST', path: `${blobPath(this.#ns, digest)}/verify` });
    return readJson<VerifyResponse>(res);
  }

  async putBlob(digest: string, size: number, body: () => Body): Promise<void> {
    const res = await this.#call({
      method: 'PUT',
      path: blobPath(this.#ns, digest),
      body,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
    });
    await drain(res);
  }

  /** The blob's bytes as they arrive; the caller verifies them. */
  async getBlob(digest: string): Promise<Readable> {
    return this.#call({ method: 'GET', path: blobPath(this.#ns, digest) });
  }

  /**
   * The blob's bytes read straight into memory from `take` (direct-get.ts), or undefined
   * where getBlob must answer instead: an https server, or an answer other than the blob.
   */
  async getBlobInto(digest: string, size: number, take: (size: number) => Buffer): Promise<Buffer | undefined> {
    this.#checkOpen();
    const url = this.#url(blobPath(this.#ns, digest));
    const headers: Record<string, string> = this.#options.token ? { authorization: `Bearer ${this.#options.token}` } : {};
    if (!DirectGets.usable(url, headers)) return undefined;
    const onHead = () => {
      this.#answered = true;
      this.#options.onProgress?.();
    };
    const timeouts = { idleTimeoutMs: this.#options.idleTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS, connectTimeoutMs: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS };
    try {
      const bytes = await this.#direct.get({ url, headers, size, take, signal: this.#options.signal, ...timeouts, onHead });
      return bytes === NOT_DIRECT ? undefined : bytes;
    } catch (err) {
      throw transportError(err, this.#base.origin);
    }
  }

  /** Publishes an entry; 'exists' when another save published the key first. */
  async putEntry(manifest: Manifest): Promise<'created' | 'exists'> {
    const res = await this.#call({ method: 'PUT', path: entryPath(this.#ns, manifest.key), json: manifest, accept: [409] });
    await drain(res);
    return res.statusCode === 409 ? 'exists' : 'created';
  }

  /** Tells the server how a save or restore went, for its stats (time saved). */
  async report(body: ClientReport): Promise<void> {
    await drain(await this.#call({ method: 'POST', path: `/v1/ns/${this.#ns}/reports`, json: body }));
  }

  async close(): Promise<void> {
    this.#agents.destroy();
    this.#direct.close();
  }

  /** Fails at once when the server is not to be called any more. */
  #checkOpen(): void {
    if (this.#deadBecause) throw this.#deadBecause;
    const open = [...this.#failuresInARow].find(([, failures]) => failures >= BREAKER_THRESHOLD);
    if (open) throw new LarderError('LARDER_UNREACHABLE', `stopped calling ${this.#base.origin} after ${open[1]} failures in a row (${open[0]})`);
  }

  /** The server's own path is kept: behind a proxy at /larder/, the token goes there only. */
  #url(path: string): URL {
    return new URL(`${this.#base.pathname.replace(/\/+$/, '')}${path}`, this.#base);
  }

  async #call(call: Call): Promise<IncomingMessage> {
    this.#checkOpen();
    const kind = `${call.method} ${routeOf(call.path)}`;
    const retries = this.#options.retries ?? 2;
    for (let attempt = 0; ; attempt++) {
      let error: LarderError;
      let retryable: boolean;
      try {
        const res = await this.#send(call);
        this.#answered = true;
        this.#options.onProgress?.();
        const status = res.statusCode ?? 0;
        if (status < 300 || call.accept?.includes(status)) {
          this.#failuresInARow.delete(kind);
          return res;
        }
        error = status < 400 ? new LarderError('LARDER_BAD_RESPONSE', `server answered ${status} (a redirect); larder follows none: give --server the URL it points to`) : await errorOf(res);
        // Never reuse a connection after an error: the server may still be reading (or
        // ignoring) the rest of a body this request sent.
        res.socket?.destroy();
        retryable = RETRYABLE_STATUS.has(status);
      } catch (err) {
        error = transportError(err, this.#base.origin);
        retryable = error.code === 'LARDER_UNREACHABLE' || error.code === 'LARDER_TIMEOUT';
        // A server that takes connections but has never answered is not asked again:
        // each retry would cost the build another full timeout.
        if (err instanceof HttpTimeoutError && !this.#answered) {
          this.#deadBecause = error;
          throw error;
        }
      }
      if (!retryable || attempt >= retries || this.#options.signal?.aborted) {
        if (retryable || error.status >= 500) this.#failuresInARow.set(kind, (this.#failuresInARow.get(kind) ?? 0) + 1);
        throw error;
      }
      await sleep((this.#options.backoffMs ?? 200) * 2 ** attempt * (0.75 + Math.random() / 2), this.#options.signal);
    }
  }

  #send(call: Call): Promise<IncomingMessage> {
    const headers: Record<string, string> = { ...call.headers };
    if (this.#options.token) headers.authorization = `Bearer ${this.#options.token}`;
    let body: Body | string | undefined = call.body?.();
    if (call.json !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(call.json);
    }
    return send(
      {
        method: call.method,
        url: this.#url(call.path),
        headers,
        body,
        signal: this.#options.signal,
        idleTimeoutMs: this.#options.idleTimeoutMs ?? DEFAULT_RESPONSE_TIMEOUT_MS,
        connectTimeoutMs: this.#options.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
      },
      this.#agents,
    );
  }
}

/**
 * A lookup answer is checked against the question: an exact hit is the key asked for, a
 * prefix hit starts with a restore key asked for, every key is a valid key (one with a
 * newline would write a second line into $GITHUB_OUTPUT), and the entry is that key's.
 */
function checkedLookup(found: LookupResponse, key: string, restoreKeys: string[]): LookupResponse {
  const bad = (why: string): LarderError => new LarderError('LARDER_BAD_RESPONSE', `the server's lookup answer ${why}; not trusted`);
  if (found.passedOver !== undefined && (!Array.isArray(found.passedOver) || !found.passedOver.every((k) => typeof k === 'string' && KEY_PATTERN.test(k)))) throw bad('names passed-over entries that are not keys');
  if (found.match === 'none') return found;
  if (found.match !== 'exact' && found.match !== 'prefix') throw bad(`has match ${JSON.stringify(found.match)}`);
  if (typeof found.key !== 'string' || !KEY_PATTERN.test(found.key)) throw bad(`names no valid key (${JSON.stringify(found.key).slice(0, 80)})`);
  if (found.match === 'exact' && found.key !== key) throw bad(`is an exact hit for ${found.key}, not ${key}`);
  if (found.match === 'prefix' && !restoreKeys.some((p) => found.key?.startsWith(p))) throw bad(`is a prefix hit for ${found.key}, which no restore key asked for covers`);
  if (found.entry?.key !== found.key) throw bad(`holds an entry for ${JSON.stringify(found.entry?.key).slice(0, 80)}, not ${found.key}`);
  return found;
}

/** The server's URL: http or https, nothing else ("localhost:7373" parses as a URL of scheme "localhost:"). */
function serverUrl(server: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(server);
  } catch {
    // not a URL at all
  }
  if (url?.protocol === 'http:' || url?.protocol === 'https:') return url;
  const hint = /^[\w.-]+:\d+(\/.*)?$/.test(server) ? `; did you mean http://${server}?` : '; e.g. http://larder.internal:7373';
  throw new LarderError('LARDER_USAGE', `--server (LARDER_SERVER) ${JSON.stringify(server)} must be an http:// or https:// URL${hint}`);
}

/** The route of a v1 path, without its namespace, key or digest: `blobs`, `blobs/missing`, `entries`, `lookup`. */
function routeOf(path: string): string {
  const [, , , , resource = '', rest = '', action = ''] = path.split('?')[0]?.split('/') ?? [];
  return rest === 'missing' ? `${resource}/missing` : action ? `${resource}/${action}` : resource;
}

async function errorOf(res: IncomingMessage): Promise<LarderError> {
  const status = res.statusCode ?? 0;
  const text = await readText(res).catch(() => '');
  try {
    const parsed = JSON.parse(text) as { code?: unknown; message?: unknown };
    if (isErrorCode(parsed.code)) return new LarderError(parsed.code, `server: ${String(parsed.message)}`);
  } catch {
    // not one of ours: fall through
  }
  const code: ErrorCode = status >= 500 ? 'LARDER_UNREACHABLE' : 'LARDER_BAD_RESPONSE';
  return new LarderError(code, `server answered ${status}: ${text.slice(0, 200)}`);
}

/** Network faults and timeouts as catalogue errors; anything already ours passes through. */
function transportError(err: unknown, origin: string): LarderError {
  if (err instanceof LarderError) return err;
  const e = err as { code?: string; name?: string; message?: string };
  if (e.name === 'AbortError' || e.name === 'TimeoutError' || e.code === 'ABORT_ERR') {
    return new LarderError('LARDER_TIMEOUT', `gave up on ${origin}: the overall --timeout passed`, { cause: err });
  }
  if (err instanceof HttpTimeoutError) {
    return new LarderError('LARDER_TIMEOUT', `${origin} ${err.message} (--response-timeout, --connect-timeout)`, { cause: err });
  }
  return new LarderError('LARDER_UNREACHABLE', `cannot reach ${origin}: ${e.code ?? e.message ?? String(err)}`, { cause: err });
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => (clearTimeout(timer), resolve()), { once: true });
  });
}
