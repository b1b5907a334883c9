import type { FastifyInstance } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import type { Manifest } from '../../shared/manifest.ts';
import { type LookupRequest, type LookupResponse, lookupRequestSchema, MAX_LIST_LIMIT } from '../../shared/protocol.ts';
import type { Store } from '../storage/store.ts';
import type { RouteDeps } from './deps.ts';
import { namespaceOf } from './params.ts';

export async function lookupRoutes(app: FastifyInstance, { store, stats }: RouteDeps): Promise<void> {
  app.post<{ Body: LookupRequest }>('/v1/ns/:ns/lookup', { schema: { body: lookupRequestSchema } }, async (request) => {
    const ns = namespaceOf(request);
    request.access.requireRead(ns, request.body.key);
    const result = await lookup(store, ns, request.body, (key) => request.access.canRead(ns, key));
    if (request.body.probe) return result; // a save's look for its base is not a restore
    stats.lookup(ns, result.match);
    if (result.match === 'none') stats.missed(ns, request.body.key);
    return result;
  });
}

/**
 * The exact key first; then each restore key in order, taking its newest entry that the
 * caller may read, so no crafted restore key reaches into another trust tier.
 */
export async function lookup(store: Store, ns: string, { key, restoreKeys = [] }: LookupRequest, mayRead: (key: string) => boolean = () => true): Promise<LookupResponse> {
  const exact = await store.getEntry(ns, key);
  if (exact) return { match: 'exact', key, entry: parseStored(exact, key) };
  for (const prefix of restoreKeys) {
    const newest = (await store.listEntries(ns, prefix, MAX_LIST_LIMIT)).find((e) => mayRead(e.key));
    if (!newest) continue;
    const stored = await store.getEntry(ns, newest.key);
    if (stored) return { match: 'prefix', key: newest.key, entry: parseStored(stored, newest.key) };
  }
  return { match: 'none' };
}

export function parseStored(stored: Buffer, key: string): Manifest {
  try {
    return JSON.parse(stored.toString('utf8')) as Manifest;
  } catch (err) {
    throw new LarderError('LARDER_INTERNAL', `stored entry ${key} is not valid JSON`, { cause: err });
  }
}
