import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.ts';

export async function statsRoutes(app: FastifyInstance, { stats }: RouteDeps): Promise<void> {
  app.get('/v1/stats', async (request) => {
    request.access.requireAdmin(); // it names every namespace
    return stats.snapshot();
  });
}
