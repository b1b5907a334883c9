import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import { toLarderError } from '../errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { namespaceOf } from '../routes/params.ts';
import { KeyedCache } from './keyed.ts';
import { artifactRoutes } from './serve.ts';

// Gradle's HTTP build cache (settings.gradle: buildCache { remote(HttpBuildCache) { url =
// 'http://HOST/gradle/<namespace>/'; push = true; credentials { username = 'ci';
// password = '<larder token>' } } }): GET and PUT of `<url><cache key>`. Gradle sends
// only HTTP Basic credentials (the token is the password, the user name is free), and
// only after a 401 that asks for them, so a 401 here says `WWW-Authenticate: Basic`.

const KEY = /^[0-9a-f]{16,128}$/;

export async function gradleRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const cache = new KeyedCache(deps, 'gradle');
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toLarderError(err);
    if (error.status >= 500) request.log.error({ err }, error.message);
    if (error.status === 401) reply.header('www-authenticate', 'Basic realm="larder"');
    return reply.code(error.status).send(error.toJSON());
  });
  artifactRoutes(app, '/gradle/:ns/:key', (request) => ({ cache, ns: namespaceOf(request), key: keyOf(request) }), 201);
}

function keyOf(request: FastifyRequest): string {
  const key = (request.params as { key: string }).key;
  if (!KEY.test(key)) throw new LarderError('LARDER_INVALID_KEY', `${JSON.stringify(key.slice(0, 80))} is not a Gradle cache key`);
  return key;
}
