import type { FastifyInstance } from 'fastify';
import { type ClientReport, clientReportSchema } from '../../shared/protocol.ts';
import type { RouteDeps } from './deps.ts';
import { namespaceOf } from './params.ts';

export async function statsRoutes(app: FastifyInstance, { stats }: RouteDeps): Promise<void> {
  app.get('/v1/stats', async (request) => {
    request.access.requireAdmin(); // it names every namespace
    return stats.snapshot();
  });

  app.post<{ Body: ClientReport }>('/v1/ns/:ns/reports', { schema: { body: clientReportSchema } }, async (request, reply) => {
    const ns = namespaceOf(request);
    request.access.requireRead(ns);
    stats.clientReport(ns, request.body);
    return reply.code(204).send();
  });

  app.get('/metrics', async (request, reply) => {
    request.access.requireAdmin(); // so does this; scrape it with an admin bearer token
    return reply.type(stats.metrics.registry.contentType).send(await stats.metrics.registry.metrics());
  });
}
