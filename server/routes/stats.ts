import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from './deps.ts';

export async function statsRoutes(app: FastifyInstance, { stats }: RouteDeps): Promise<void> {
  app.get('/v1/stats', async () => stats.snapshot());
}
