import { readFileSync } from 'node:fs';
import type { FastifyInstance } from 'fastify';

// The dashboard: one static page (no build step) that reads /v1/stats and the entry
// lists with the visitor's admin token. The page itself holds no data, so it is open.

const PAGE = readFileSync(new URL('./page.html', import.meta.url));

export async function dashboardRoutes(app: FastifyInstance): Promise<void> {
  app.get('/', async (_request, reply) => reply.type('text/html; charset=utf-8').header('cache-control', 'no-cache').send(PAGE));
}
