import type { FastifyInstance } from 'fastify';
import { type ClientReport, clientReportSchema, type RetentionStats } from '../../shared/wire/protocol.ts';
import type { RetentionView } from '../retention/retention.ts';
import { doomedCount } from '../retention/state.ts';
import type { RouteDeps } from './deps.ts';
import { parseStored } from './lookup.ts';
import { namespaceOf } from './params.ts';

export async function statsRoutes(app: FastifyInstance, { stats, store, retention }: RouteDeps): Promise<void> {
  app.get('/v1/stats', async (request) => {
    request.access.requireAdmin(); // it names every namespace
    return { ...stats.snapshot(), retention: retentionStats(retention.view()) };
  });

  app.post<{ Body: ClientReport }>('/v1/ns/:ns/reports', { schema: { body: clientReportSchema } }, async (request, reply) => {
    const ns = namespaceOf(request);
    request.access.requireRead(ns);
    // Time saved is what the entry's own build took, at most: a report cannot claim more,
    // nor claim anything without naming an entry it may read.
    const { key, savedSeconds, ...rest } = request.body;
    const entry = key !== undefined && savedSeconds !== undefined && request.access.canRead(ns, key) ? await store.getEntry(ns, key) : undefined;
    const built = entry ? parseStored(entry, key as string).client.buildSeconds : undefined;
    stats.clientReport(ns, { ...rest, ...(built === undefined ? {} : { savedSeconds: Math.min(savedSeconds as number, built) }) });
    return reply.code(204).send();
  });

  app.get('/metrics', async (request, reply) => {
    request.access.requireAdmin(); // so does this; scrape it with an admin bearer token
    return reply.type(stats.metrics.registry.contentType).send(await stats.metrics.registry.metrics());
  });
}

function retentionStats({ caps, status }: RetentionView): RetentionStats {
  return {
    ...(caps.maxBytes === undefined ? {} : { maxBytes: caps.maxBytes }),
    ...(caps.maxIdleMs === undefined ? {} : { maxIdleSeconds: caps.maxIdleMs / 1000 }),
    ...(caps.quotas ? { quotas: caps.quotas } : {}),
    ...(status.usage ? { storedBytes: status.usage.storedBytes, liveBytes: status.usage.liveBytes, entries: status.usage.entries, byNamespace: status.usage.byNamespace } : {}),
    doomedBlobs: doomedCount(status),
    totals: status.totals,
    ...(status.lastRun ? { lastRun: status.lastRun } : {}),
  };
}
