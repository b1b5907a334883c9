import type { FastifyInstance } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import type { Manifest } from '../../shared/wire/manifest.ts';
import { type LookupRequest, type LookupResponse, lookupRequestSchema, MAX_LIST_LIMIT } from '../../shared/wire/protocol.ts';
import type { Store } from '../storage/store.ts';
import type { RouteDeps } from './deps.ts';
import { namespaceOf } from './params.ts';

export async function lookupRoutes(app: FastifyInstance, { store, stats, retention }: RouteDeps): Promise<void> {
  app.post<{ Body: LookupRequest }>('/v1/ns/:ns/lookup', { schema: { body: lookupRequestSchema } }, async (request) => {
    const ns = namespaceOf(request);
    request.access.requireRead(ns, request.body.key);
    const result = await lookup(store, ns, request.body, (key) => request.access.canRead(ns, key));
    if (request.body.probe) return result; // a save's look for its base is not a restore
    if (result.match !== 'none' && result.key !== undefined) retention.accessed(ns, result.key);
    stats.lookup(ns, result.match);
    if (result.match === 'none') stats.missed(ns, request.body.key);
    return result;
  });
}

// Untrusted entries passed over per restore key before the next one is tried: bounds
// the manifests one lookup reads when a tier is full of them.
const MAX_PASSED_OVER = 8;

/**
 * The exact key first; then each restore key in order, taking its newest entry that the
 * caller may read, so no crafted restore key reaches into another trust tier. Entries an
 * untrusted token published are passed over (and named) unless the caller allows them:
 * any job holding that token could have written them.
 */
export async function lookup(
  store: Store,
  ns: string,
  { key, restoreKeys = [], allowUntrusted = false }: LookupRequest,
  mayRead: (key: string) => boolean = () => true,
  /** a protocol adapter's own check of a candidate (restoreKey: its index, -1 for the exact key) */
  accept: (entry: Manifest, restoreKey: number) => boolean = () => true,
): Promise<LookupResponse> {
  const passedOver: string[] = [];
  const take = (stored: Buffer | undefined, found: string, restoreKey = -1): Manifest | undefined => {
    if (!stored) return undefined;
    const entry = parseStored(stored, found);
    if (!accept(entry, restoreKey)) return undefined;
    if (entry.publisher?.untrusted && !allowUntrusted) {
      passedOver.push(found);
      return undefined;
    }
    return entry;
  };
  const withPassedOver = (answer: LookupResponse): LookupResponse => (passedOver.length > 0 ? { ...answer, passedOver } : answer);
  const exact = mayRead(key) ? take(await store.getEntry(ns, key), key) : undefined;
  if (exact) return withPassedOver({ match: 'exact', key, entry: exact });
  for (const [index, prefix] of restoreKeys.entries()) {
    const readable = (await store.listEntries(ns, prefix, MAX_LIST_LIMIT)).filter((e) => mayRead(e.key) && e.key !== key);
    for (const candidate of readable.slice(0, MAX_PASSED_OVER)) {
      const entry = take(await store.getEntry(ns, candidate.key), candidate.key, index);
      if (entry) return withPassedOver({ match: 'prefix', key: candidate.key, entry });
    }
  }
  return withPassedOver({ match: 'none' });
}

export function parseStored(stored: Buffer, key: string): Manifest {
  try {
    return JSON.parse(stored.toString('utf8')) as Manifest;
  } catch (err) {
    throw new LarderError('LARDER_INTERNAL', `stored entry ${key} is not valid JSON`, { cause: err });
  }
}
