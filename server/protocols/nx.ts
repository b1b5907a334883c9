import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import { toLarderError } from '../errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { KeyedCache } from './keyed.ts';
import { namespaceFor } from './namespace.ts';
import { receiveArtifact, sendArtifact } from './serve.ts';

// Nx's self-hosted remote cache (NX_SELF_HOSTED_REMOTE_CACHE_SERVER=<server>,
// NX_SELF_HOSTED_REMOTE_CACHE_ACCESS_TOKEN=<larder token>): `GET/PUT /v1/cache/:hash`,
// hashes of decimal digits. The namespace is the token's one namespace, else `nx`.
// Nx fails the user's whole run on a GET answered anything but 200 or 404, and retries a
// PUT answered anything but 200 (then fails the task), while 403 and 409 pass quietly: so
// every failed read is a 404 (logged here), and a write this token may not make is a 403.

const HASH = /^[0-9]{1,128}$/;

export async function nxRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const cache = new KeyedCache(deps, 'nx');
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toLarderError(err);
    if (error.status >= 500 || request.method === 'GET') request.log.warn({ err, code: error.code }, `nx cache ${request.method} failed: ${error.message}`);
    if (request.method === 'GET') return reply.code(404).send(error.message);
    return reply.code(error.status === 401 ? 403 : error.status).send(error.message);
  });
  app.get<{ Params: { hash: string } }>('/v1/cache/:hash', { exposeHeadRoute: false }, async (request, reply) => sendArtifact(cache, request, reply, namespaceFor(request.access, 'nx'), hashOf(request), () => 'not found'));
  app.put<{ Params: { hash: string } }>('/v1/cache/:hash', async (request, reply) => {
    await receiveArtifact(cache, request, namespaceFor(request.access, 'nx'), hashOf(request));
    return reply.code(200).send('stored');
  });
}

function hashOf(request: FastifyRequest): string {
  const hash = (request.params as { hash: string }).hash;
  if (!HASH.test(hash)) throw new LarderError('LARDER_INVALID_KEY', `${JSON.stringify(hash.slice(0, 80))} is not an Nx hash`);
  return hash;
}
