import type { FastifyRequest } from 'fastify';
import { digestHex } from '../../../shared/wire/digest.ts';
import { LarderError } from '../../../shared/errors.ts';
import type { Access } from '../../auth/access.ts';
import type { RouteDeps } from '../../routes/deps.ts';
import { lookup } from '../../routes/lookup.ts';
import { Capabilities, DOWNLOAD_TTL_MS } from './capability.ts';
import { namespaceFor } from '../namespace.ts';
import { DEFAULT_NAMESPACE, entryName, PROTOCOL, prefixName, tierKey } from './names.ts';
import { type Upload, Uploads } from './uploads.ts';

// What both versions of the GitHub Actions cache protocol do, over larder's store: find
// an entry by key, version and restore keys (as larder's own lookup does, trust tiers and
// untrusted publishers included), reserve an upload, and publish it. Entries count in
// /v1/stats and in retention like larder's own.

export interface Found {
  key: string;
  createdAt: string;
  /** a capability URL for the archive */
  url: string;
}

export class GhaService {
  readonly deps: RouteDeps;
  readonly capabilities: Capabilities;
  readonly uploads: Uploads;

  constructor(deps: RouteDeps) {
    this.deps = deps;
    this.capabilities = new Capabilities(deps.store);
    this.uploads = new Uploads(deps);
  }

  async find(request: FastifyRequest, key: string, restoreKeys: readonly string[], version: string): Promise<Found | undefined> {
    const { access } = request;
    const ns = this.namespaceOf(access);
    access.requireRead(ns);
    const { store, stats, retention } = this.deps;
    const result = await lookup(
      store,
      ns,
      { key: entryName(key, version), restoreKeys: restoreKeys.map((k) => prefixName(k, version)) },
      (name) => access.canRead(ns, tierKey(name)),
      // A name is a version's hash and a key, cut when long: the entry's own record decides.
      (entry, i) => entry.inputs['gha.version'] === version && (i < 0 ? entry.inputs['gha.key'] === key : String(entry.inputs['gha.key']).startsWith(restoreKeys[i] ?? '\0')),
    );
    stats.lookup(ns, result.match);
    const part = result.entry?.paths[0]?.parts[0];
    if (result.match === 'none' || !result.key || !result.entry || !part) {
      stats.missed(ns, entryName(key, version));
      stats.protocol(PROTOCOL, ns, 'miss');
      return undefined;
    }
    stats.protocol(PROTOCOL, ns, 'hit');
    retention.accessed(ns, result.key);
    const url = await this.capabilities.url(request, { kind: 'd', ns, id: digestHex(part.digest) }, DOWNLOAD_TTL_MS);
    return { key: String(result.entry.inputs['gha.key']), createdAt: result.entry.createdAt, url };
  }

  namespaceOf(access: Access): string {
    return namespaceFor(access, DEFAULT_NAMESPACE);
  }

  async reserve(access: Access, key: string, version: string): Promise<Upload | 'exists' | 'busy'> {
    const ns = this.namespaceOf(access);
    access.requireWrite(ns, tierKey(entryName(key, version)));
    return this.uploads.create(ns, key, version, access.publisher());
  }

  /** An upload this token may finish: its namespace's, and its own tier's. */
  async ownUpload(access: Access, upload: Upload | undefined, what: string): Promise<Upload> {
    if (!upload || upload.ns !== this.namespaceOf(access)) throw new LarderError('LARDER_ENTRY_NOT_FOUND', `no upload ${what} in flight; reserve the cache entry first`);
    access.requireWrite(upload.ns, tierKey(upload.name));
    return upload;
  }
}
