import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { LarderError } from '../../../shared/errors.ts';
import type { Store } from '../../storage/store.ts';

// The URLs the GitHub Actions cache clients upload to and download from carry no
// Authorization header (the Azure SDK and a plain GET send none), so each is a
// capability: it names one upload or one stored archive, expires, and is signed with a
// secret that every server of the fleet reads from the store (created once, by whichever
// server comes first), so any replica behind the load balancer honours it.
//
//   /gha/blobs/<u|d>~<namespace>~<upload id | digest hex>~<expiry ms>~<signature>
//
// Three path segments: on an IP host the Azure SDK reads the first two as account and
// container, and needs a blob name after them.

const SECRET = 'gha/secret';
export const UPLOAD_TTL_MS = 6 * 3600_000;
export const DOWNLOAD_TTL_MS = 3600_000;

export type Grant = { kind: 'u' | 'd'; ns: string; id: string };

export class Capabilities {
  readonly #store: Store;
  #secret: Promise<Buffer> | undefined;
  readonly #now: () => number;

  constructor(store: Store, now: () => number = Date.now) {
    this.#store = store;
    this.#now = now;
  }

  async url(request: FastifyRequest, grant: Grant, ttlMs: number): Promise<string> {
    const body = `${grant.kind}~${grant.ns}~${grant.id}~${this.#now() + ttlMs}`;
    return `${baseUrl(request)}/gha/blobs/${body}~${await this.#sign(body)}`;
  }

  /** What the capability grants; a forged, altered or expired one is refused. */
  async check(capability: string, kind: Grant['kind']): Promise<Grant> {
    const fields = capability.split('~');
    const [k, ns, id, expiry, signature] = fields;
    if (fields.length !== 5 || k !== kind || !ns || !id || !expiry || !signature) throw refused('is not a larder cache URL');
    const expected = Buffer.from(await this.#sign(fields.slice(0, 4).join('~')));
    const given = Buffer.from(signature);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) throw refused('has a signature this fleet did not make');
    if (Number(expiry) < this.#now()) throw refused('has expired');
    return { kind, ns, id };
  }

  async #sign(body: string): Promise<string> {
    return createHmac('sha256', await this.#secretKey()).update(body).digest('base64url');
  }

  #secretKey(): Promise<Buffer> {
    this.#secret ??= this.#loadSecret().catch((err: unknown) => {
      this.#secret = undefined; // the store was unreachable: the next request tries again
      throw err;
    });
    return this.#secret;
  }

  async #loadSecret(): Promise<Buffer> {
    const stored = await this.#store.getMeta(SECRET);
    if (stored) return stored.body;
    const made = randomBytes(32);
    // Two servers starting together: one write wins, and both use what was stored.
    if ((await this.#store.putMeta(SECRET, made, { ifAbsent: true })) !== 'conflict') return made;
    const won = await this.#store.getMeta(SECRET);
    if (!won) throw new LarderError('LARDER_INTERNAL', 'the GitHub Actions URL secret vanished from the store');
    return won.body;
  }
}

/** Where the client reached this server (a load balancer in front says so in X-Forwarded-*). */
function baseUrl(request: FastifyRequest): string {
  const proto = String(request.headers['x-forwarded-proto'] ?? request.protocol).split(',')[0]?.trim() || 'http';
  const host = String(request.headers['x-forwarded-host'] ?? request.headers.host ?? 'localhost').split(',')[0]?.trim();
  return `${proto}://${host}`;
}

function refused(why: string): LarderError {
  return new LarderError('LARDER_FORBIDDEN', `this cache URL ${why}; ask the cache service for a new one`);
}
