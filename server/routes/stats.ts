import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.ts';

export async function statsRoutes(app: FastifyInstance, { stats }: RouteDeps): Promise<void> {
  app.get('/v1/stats', async (request) => {
    request.access.requireAdmin(); // it names every namespace
    return stats.snapshot();
  });

  app.get('/metrics', async (request, reply) => {
    request.access.requireAdmin(); // so does this; scrape it with an admin bearer token
    return reply.type(stats.metrics.registry.contentType).send(await stats.metrics.registry.metrics());
  });
}
