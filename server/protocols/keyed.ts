import { createHash } from 'node:crypto';
import { type Readable, Transform, type TransformCallback } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { finishDigest } from '../../shared/wire/digest.ts';
import { isLarderError, LarderError } from '../../shared/errors.ts';
import { type Manifest, OPAQUE_CODEC, type PartRef, type Publisher } from '../../shared/wire/manifest.ts';
import { KEY_PATTERN } from '../../shared/wire/names.ts';
import type { Access } from '../auth/access.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { parseStored } from '../routes/lookup.ts';
import type { ByteRange } from '../storage/store.ts';
import { type Stored, storeSpooled } from './spool.ts';

// Caches that name what they store by a key of their own (a task hash, a compiler's
// key, an action digest) rather than by its content: Turborepo, Nx, Bazel, Gradle,
// ccache. Each key is a larder entry `<kind>.<key>` holding one opaque part, so these
// caches share larder's store, tokens, namespaces, limits, stats and retention; the
// bytes are a blob under their SHA-256 like any part, stored once whoever sent them.
//
// A grant's key prefixes apply to the tool's own key. What a token marked untrusted
// wrote is never served (it is a miss for everyone), and a trusted write replaces it.

export interface Artifact {
  body: Readable;
  /** the whole artifact's size */
  size: number;
  /** the part of it the body holds, when a range was asked for */
  range?: ByteRange;
  /** what the tool sent beside the bytes and wants back (Turborepo's tag and duration) */
  meta: Record<string, string>;
}

/**
 * A blob's bytes checked against its digest on the way out. A corrupt blob (a disk fault,
 * or one torn by a crash: blobs are not fsynced, FsStore) fails the stream before its
 * last byte, so the client sees a broken transfer, never a whole wrong artifact; and it
 * is removed, so the next read is a miss and the next write stores it again.
 */
export function verifiedRead({ store, stats }: Pick<RouteDeps, 'store' | 'stats'>, ns: string, digest: string, size: number, body: Readable): Readable {
  const verified = new HeldBackVerifier(digest, size);
  pipeline(body, verified).catch(async (err: unknown) => {
    if (!isLarderError(err, 'LARDER_INTEGRITY')) return; // the client went away, or the store failed
    await store.deleteBlob(ns, digest).catch(() => {});
    stats.corruptBlobRemoved(ns);
  });
  return verified;
}

/** Passes bytes on one chunk late, and the last chunk only once the whole has matched its digest and size. */
class HeldBackVerifier extends Transform {
  readonly #hash = createHash('sha256');
  readonly #digest: string;
  readonly #size: number;
  #bytes = 0;
  #held: Buffer | undefined;

  constructor(digest: string, size: number) {
    super();
    this.#digest = digest;
    this.#size = size;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.#bytes += chunk.length;
    this.#hash.update(chunk);
    const previous = this.#held;
    this.#held = chunk;
    callback(null, previous);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#bytes !== this.#size || finishDigest(this.#hash) !== this.#digest) {
      callback(new LarderError('LARDER_INTEGRITY', `stored blob ${this.#digest} does not match its digest (${this.#bytes} of ${this.#size} bytes read): removed`));
      return;
    }
    callback(null, this.#held);
  }
}

/** The entry of one opaque part: another tool's own bytes, stored as it sent them. */
export function opaqueManifest(name: string, path: string, blob: Stored, inputs: Record<string, string>, client: string, publisher: Publisher, createdAt = new Date()): Manifest {
  return {
    version: 2,
    key: name,
    createdAt: createdAt.toISOString(),
    codec: OPAQUE_CODEC,
    paths: [{ path, parts: [{ digest: blob.digest, size: blob.size, rawSize: blob.size, entries: 1 }], files: 1, fileBytes: blob.size }],
    inputs,
    client: { version: client, os: '', arch: '' },
    publisher,
  };
}

export class KeyedCache {
  readonly #deps: RouteDeps;
  /** what /v1/stats and /metrics count it under */
  readonly protocol: string;
  /** the entry names' prefix: a protocol may keep several kinds (Bazel's ac and cas) */
  readonly #kind: string;

  constructor(deps: RouteDeps, protocol: string, kind = protocol) {
    this.#deps = deps;
    this.protocol = protocol;
    this.#kind = kind;
  }

  /** The artifact for key, or undefined (a miss: absent, written by an untrusted token, or its bytes collected). */
  async get(access: Access, ns: string, key: string, range?: (size: number) => ByteRange | undefined): Promise<Artifact | undefined> {
    const { store, stats, retention } = this.#deps;
    const name = this.#name(key);
    access.requireRead(ns, key);
    const { entry, part } = await this.#served(ns, name);
    const wanted = part && range?.(part.size);
    const body = part && (await store.getBlob(ns, part.digest, wanted));
    if (!entry || !part || !body) {
      stats.protocol(this.protocol, ns, 'miss');
      return undefined;
    }
    const length = wanted ? wanted.end - wanted.start + 1 : part.size;
    stats.protocol(this.protocol, ns, 'hit', length);
    stats.add(ns, 'bytesOut', length);
    retention.accessed(ns, name);
    // A whole artifact is checked against its digest as it goes (these tools do not check
    // it themselves); a range cannot be.
    return { body: wanted ? body : verifiedRead(this.#deps, ns, part.digest, part.size, body), size: part.size, ...(wanted ? { range: wanted } : {}), meta: Object.fromEntries(Object.entries(entry.inputs).filter(([k]) => k.startsWith('meta.')).map(([k, v]) => [k.slice(5), v])) };
  }

  /** Whether key is served (HEAD), without counting a read. */
  async has(access: Access, ns: string, key: string): Promise<number | undefined> {
    access.requireRead(ns, key);
    const { part } = await this.#served(ns, this.#name(key));
    return part && (await this.#deps.store.statBlob(ns, part.digest)) !== undefined ? part.size : undefined;
  }

  /**
   * Stores the body under key. A key already stored keeps its first artifact (these
   * tools write the same bytes for the same key); one an untrusted token wrote, or whose
   * bytes were collected, is replaced.
   */
  async put(access: Access, ns: string, key: string, body: Readable, options: { meta?: Record<string, string>; contentDigest?: string } = {}): Promise<'created' | 'exists'> {
    const { store, stats, retention } = this.#deps;
    const name = this.#name(key);
    access.requireWrite(ns, key);
    const blob = await storeSpooled(this.#deps, ns, body, options.contentDigest);
    const inputs = { protocol: this.protocol, key, ...Object.fromEntries(Object.entries(options.meta ?? {}).map(([k, v]) => [`meta.${k}`, v])) };
    const manifest = opaqueManifest(name, this.#kind, blob, inputs, this.protocol, access.publisher());
    const bytes = Buffer.from(JSON.stringify(manifest));
    let outcome = await store.putEntry(ns, name, bytes);
    if (outcome === 'exists') {
      const held = await this.#entry(ns, name);
      const heldPart = held?.paths[0]?.parts[0];
      const stale = !held || (held.publisher?.untrusted && !access.untrusted) || !heldPart || (await store.statBlob(ns, heldPart.digest)) === undefined;
      if (stale) {
        await store.deleteEntry(ns, name);
        outcome = await store.putEntry(ns, name, bytes);
      }
    }
    stats.protocol(this.protocol, ns, 'write', blob.size);
    if (outcome === 'created') stats.add(ns, 'entriesPublished');
    retention.accessed(ns, name);
    return outcome;
  }

  #name(key: string): string {
    const name = `${this.#kind}.${key}`;
    if (!KEY_PATTERN.test(name)) throw new LarderError('LARDER_INVALID_KEY', `${this.protocol} key ${JSON.stringify(key.slice(0, 80))} is not one this server stores`);
    return name;
  }

  /** The entry, and the part it serves: none when an untrusted token wrote it. */
  async #served(ns: string, name: string): Promise<{ entry?: Manifest; part?: PartRef }> {
    const entry = await this.#entry(ns, name);
    return entry?.publisher?.untrusted ? { entry } : { entry, part: entry?.paths[0]?.parts[0] };
  }

  async #entry(ns: string, name: string): Promise<Manifest | undefined> {
    const stored = await this.#deps.store.getEntry(ns, name);
    const entry = stored && parseStored(stored, name);
    return entry?.codec === OPAQUE_CODEC ? entry : undefined;
  }
}
