import { createHash, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { LarderError } from '../shared/errors.ts';

// One shared bearer token, when configured, guards every route but the probes.
// Compared as SHA-256 digests so the comparison takes the same time whatever the input.

const OPEN_ROUTES = new Set(['/healthz', '/readyz']);

const digestOf = (token: string): Buffer => createHash('sha256').update(token).digest();

export function requireBearerToken(app: FastifyInstance, token: string): void {
  const expected = digestOf(token);
  app.addHook('onRequest', async (request) => {
    if (OPEN_ROUTES.has(request.routeOptions.url ?? '')) return;
    const header = request.headers.authorization ?? '';
    const match = /^Bearer (\S+)$/.exec(header);
    if (!match?.[1]) throw new LarderError('LARDER_UNAUTHORIZED', 'this server needs Authorization: Bearer <token>');
    if (!timingSafeEqual(digestOf(match[1]), expected)) throw new LarderError('LARDER_FORBIDDEN', 'the token is not valid for this server');
  });
}
