import type { FastifyInstance } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import { checkManifestKey, type Manifest, manifestDigests, manifestSchema } from '../../shared/wire/manifest.ts';
import { entryListQuerySchema, type EntryListResponse, MAX_LIST_LIMIT } from '../../shared/wire/protocol.ts';
import type { Store } from '../storage/store.ts';
import type { RouteDeps } from './deps.ts';
import { parseStored } from './lookup.ts';
import { keyOf, namespaceOf } from './params.ts';

async function partsGone(store: Store, ns: string, key: string): Promise<boolean> {
  const stored = await store.getEntry(ns, key);
  if (!stored) return false;
  // Absent ones only: a torn blob (stored with the wrong size) is replaced by the upload of
  // whoever needs it, so the entry becomes whole again without being replaced.
  return (await store.missingBlobs(ns, manifestDigests(parseStored(stored, key)))).length > 0;
}

export async function entryRoutes(app: FastifyInstance, { store, stats, limits, retention }: RouteDeps): Promise<void> {
  app.get('/v1/ns/:ns/entries/:key', async (request, reply) => {
    const ns = namespaceOf(request);
    const key = keyOf(request);
    request.access.requireRead(ns, key);
    const stored = await store.getEntry(ns, key);
    if (!stored) throw new LarderError('LARDER_ENTRY_NOT_FOUND', `no entry ${key} in ${ns}`);
    retention.accessed(ns, key);
    return reply.type('application/json').send(stored);
  });

  app.put<{ Body: Manifest }>(
    '/v1/ns/:ns/entries/:key',
    { bodyLimit: limits.maxManifestBytes, schema: { body: manifestSchema } },
    async (request, reply) => {
      const ns = namespaceOf(request);
      const key = keyOf(request);
      request.access.requireWrite(ns, key);
      // Who published it is the server's to say, from the token, never the client's.
      const { publisher: _claimed, ...sent } = request.body;
      const { access } = request;
      const manifest: Manifest = { ...sent, publisher: access.publisher() };
      checkManifestKey(manifest, key);
      // An entry of nothing restores nothing, and only costs every listing its share.
      if (manifestDigests(manifest).length === 0) throw new LarderError('LARDER_INVALID_MANIFEST', `entry ${key} has no parts; an entry must hold files`);
      // Published last and only when complete: every part must already be stored.
      const missing = await store.missingBlobs(ns, manifestDigests(manifest));
      if (missing.length > 0) {
        const error = new LarderError('LARDER_MISSING_BLOBS', `${missing.length} part(s) of ${key} are not stored`);
        return reply.code(error.status).send({ ...error.toJSON(), missing });
      }
      let outcome = await store.putEntry(ns, key, Buffer.from(JSON.stringify(manifest)));
      // An entry whose parts are gone (found corrupt and removed, or lost) restores for
      // no one: a complete one may take its place.
      if (outcome === 'exists' && (await partsGone(store, ns, key))) {
        await store.deleteEntry(ns, key);
        outcome = await store.putEntry(ns, key, Buffer.from(JSON.stringify(manifest)));
        if (outcome === 'created') request.log.warn({ namespace: ns, key }, 'entry replaced: parts of the one it replaced were gone');
      }
      if (outcome === 'exists') throw new LarderError('LARDER_ENTRY_EXISTS', `entry ${key} already exists in ${ns}; entries are immutable`);
      stats.add(ns, 'entriesPublished');
      retention.accessed(ns, key);
      return reply.code(201).send({ key });
    },
  );

  app.delete('/v1/ns/:ns/entries/:key', async (request, reply) => {
    const ns = namespaceOf(request);
    const key = keyOf(request);
    request.access.requireWrite(ns, key);
    if (!(await store.deleteEntry(ns, key))) throw new LarderError('LARDER_ENTRY_NOT_FOUND', `no entry ${key} in ${ns}`);
    // An operator's fix of a bad entry: who removed what stays in the log.
    request.log.warn({ namespace: ns, key, token: request.access.name }, 'entry deleted');
    return reply.code(204).send();
  });

  app.get<{ Querystring: { prefix: string; limit: string } }>(
    '/v1/ns/:ns/entries',
    { schema: { querystring: entryListQuerySchema } },
    async (request): Promise<EntryListResponse> => {
      const ns = namespaceOf(request);
      request.access.requireRead(ns);
      const { prefix } = request.query;
      const limit = Number(request.query.limit);
      if (limit > MAX_LIST_LIMIT) throw new LarderError('LARDER_BAD_REQUEST', `limit is at most ${MAX_LIST_LIMIT}`);
      // Only what this token may read is listed.
      const entries = (await store.listEntries(ns, prefix, MAX_LIST_LIMIT)).filter((e) => request.access.canRead(ns, e.key)).slice(0, limit);
      return { entries: entries.map((e) => ({ key: e.key, createdAt: e.createdAt.toISOString(), size: e.size })) };
    },
  );
}
