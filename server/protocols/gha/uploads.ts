import { createHash, randomInt } from 'node:crypto';
import { Readable } from 'node:stream';
import { LarderError } from '../../../shared/errors.ts';
import type { Manifest, Publisher } from '../../../shared/wire/manifest.ts';
import type { RouteDeps } from '../../routes/deps.ts';
import { parseStored } from '../../routes/lookup.ts';
import { opaqueManifest } from '../keyed.ts';
import { type Stored, storeSpooled } from '../spool.ts';
import { UPLOAD_TTL_MS } from './capability.ts';
import { entryName, PROTOCOL } from './names.ts';

// An upload in flight: reserved by CreateCacheEntry (v2) or POST caches (v1), filled
// by blocks through its upload URL (v2: Put Blob, or Put Block then Put Block List) or
// by ranged PATCHes (v1), committed to one blob, and published as an entry by
// FinalizeCacheEntryUpload or the v1 commit. Its state is bookkeeping in the store
// (gha/uploads/<id>, gha/blocks/<id>.<block>, gha/pending/<ns>/<name hash>), so any server of the fleet can
// take any step. Blocks are stored as blobs as they arrive; once the archive is
// assembled, no entry refers to them and the collector removes them (server/retention).

export interface Upload {
  /** a positive integer: v1 clients take it as a number */
  id: string;
  ns: string;
  key: string;
  version: string;
  /** the entry's name in the store (names.ts) */
  name: string;
  createdAt: number;
  publisher: Publisher;
  /** the archive, once committed */
  blob?: Stored;
}

type Deps = Pick<RouteDeps, 'store' | 'stats' | 'retention' | 'limits'>;

const stateName = (id: string) => `gha/uploads/${id}`;
const blockName = (id: string, block: string) => `gha/blocks/${id}.${block}`;
const pendingName = (ns: string, name: string) => `gha/pending/${ns}/${createHash('sha256').update(name).digest('hex').slice(0, 32)}`;

export class Uploads {
  readonly #deps: Deps;
  readonly #now: () => number;

  constructor(deps: Deps, now: () => number = Date.now) {
    this.#deps = deps;
    this.#now = now;
  }

  /** A new upload; 'exists' when the entry is stored, 'busy' when another job is uploading it. */
  async create(ns: string, key: string, version: string, publisher: Publisher): Promise<Upload | 'exists' | 'busy'> {
    const { store } = this.#deps;
    const name = entryName(key, version);
    if (await this.entry(ns, name, key, version)) return 'exists';
    const upload: Upload = { id: String(randomInt(1, 2 ** 47)), ns, key, version, name, createdAt: this.#now(), publisher };
    // One upload per entry at a time; one abandoned (its URL expired) may be taken over.
    const pending = pendingName(ns, name);
    const claim = Buffer.from(JSON.stringify({ id: upload.id, createdAt: upload.createdAt }));
    if ((await store.putMeta(pending, claim, { ifAbsent: true })) === 'conflict') {
      const held = await store.getMeta(pending);
      const since = held ? (JSON.parse(held.body.toString('utf8')) as { createdAt: number }).createdAt : 0;
      if (held && this.#now() - since < UPLOAD_TTL_MS) return 'busy';
      const replaced = await store.putMeta(pending, claim, held ? { ifEtag: held.etag } : { ifAbsent: true });
      if (replaced === 'conflict') return 'busy';
    }
    await this.#save(upload);
    return upload;
  }

  async get(id: string): Promise<Upload | undefined> {
    if (!/^[1-9][0-9]{0,15}$/.test(id)) return undefined;
    const stored = await this.#deps.store.getMeta(stateName(id));
    return stored && (JSON.parse(stored.body.toString('utf8')) as Upload);
  }

  /** The upload in flight for this key and version (FinalizeCacheEntryUpload names no upload). */
  async pending(ns: string, key: string, version: string): Promise<Upload | undefined> {
    const held = await this.#deps.store.getMeta(pendingName(ns, entryName(key, version)));
    return held && this.get((JSON.parse(held.body.toString('utf8')) as { id: string }).id);
  }

  /** Stores one block (or v1 chunk) under its name; sent again, it replaces the first. */
  async putBlock(upload: Upload, block: string, body: Readable): Promise<Stored> {
    const stored = await storeSpooled(this.#deps, upload.ns, body);
    await this.#deps.store.putMeta(blockName(upload.id, block), Buffer.from(JSON.stringify(stored)));
    return stored;
  }

  async block(upload: Upload, block: string): Promise<Stored | undefined> {
    const stored = await this.#deps.store.getMeta(blockName(upload.id, block));
    return stored && (JSON.parse(stored.body.toString('utf8')) as Stored);
  }

  async blockNames(upload: Upload): Promise<string[]> {
    const prefix = blockName(upload.id, '');
    return (await this.#deps.store.listMeta(prefix)).map((name) => name.slice(prefix.length));
  }

  /** The archive is this one body (Put Blob). */
  async commitBody(upload: Upload, body: Readable): Promise<Stored> {
    upload.blob = await storeSpooled(this.#deps, upload.ns, body);
    await this.#save(upload);
    return upload.blob;
  }

  /** The archive is these blocks in this order, read back from the store and stored as one blob. */
  async commitBlocks(upload: Upload, blocks: Stored[]): Promise<Stored> {
    const { store } = this.#deps;
    const ns = upload.ns;
    async function* concatenated(): AsyncGenerator<Buffer> {
      for (const block of blocks) {
        const body = await store.getBlob(ns, block.digest);
        if (!body) throw new LarderError('LARDER_BLOB_NOT_FOUND', `block ${block.digest} of upload ${upload.id} is gone; upload the cache again`);
        for await (const chunk of body) yield chunk as Buffer;
      }
    }
    upload.blob = await storeSpooled(this.#deps, ns, Readable.from(concatenated()));
    await this.#save(upload);
    return upload.blob;
  }

  /** Publishes the committed archive as the entry; 'exists' when another job published it first. */
  async publish(upload: Upload): Promise<'created' | 'exists'> {
    const { store, stats, retention } = this.#deps;
    const blob = upload.blob;
    if (!blob) throw new LarderError('LARDER_BAD_REQUEST', `upload ${upload.id} has no archive yet: upload it before finalizing`);
    const manifest = opaqueManifest(upload.name, 'archive', blob, { 'gha.key': upload.key, 'gha.version': upload.version }, 'github-actions-cache', upload.publisher, new Date(this.#now()));
    const outcome = await store.putEntry(upload.ns, upload.name, Buffer.from(JSON.stringify(manifest)));
    if (outcome === 'created') {
      stats.add(upload.ns, 'entriesPublished');
      stats.protocol(PROTOCOL, upload.ns, 'write', blob.size);
      retention.accessed(upload.ns, upload.name);
    }
    await this.forget(upload);
    return outcome;
  }

  /** Removes the upload's bookkeeping (its blocks' blobs are the collector's). */
  async forget(upload: Upload): Promise<void> {
    const { store } = this.#deps;
    for (const block of await this.blockNames(upload)) await store.deleteMeta(blockName(upload.id, block));
    await store.deleteMeta(stateName(upload.id));
    const pending = await store.getMeta(pendingName(upload.ns, upload.name));
    if (pending && (JSON.parse(pending.body.toString('utf8')) as { id: string }).id === upload.id) await store.deleteMeta(pendingName(upload.ns, upload.name));
  }

  /** The stored entry for this key and version, if any (its own record of both is checked). */
  async entry(ns: string, name: string, key: string, version: string): Promise<Manifest | undefined> {
    const stored = await this.#deps.store.getEntry(ns, name);
    const entry = stored && parseStored(stored, name);
    return entry && entry.inputs['gha.key'] === key && entry.inputs['gha.version'] === version ? entry : undefined;
  }

  async #save(upload: Upload): Promise<void> {
    await this.#deps.store.putMeta(stateName(upload.id), Buffer.from(JSON.stringify(upload)));
  }
}
