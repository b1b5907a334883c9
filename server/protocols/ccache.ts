import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { namespaceOf } from '../routes/params.ts';
import { KeyedCache } from './keyed.ts';
import { artifactRoutes } from './serve.ts';

// ccache's HTTP remote storage (CCACHE_REMOTE_STORAGE="http://HOST/ccache/<namespace>|
// bearer-token=<larder token>", plain HTTP: ccache speaks no HTTPS): GET, HEAD and PUT
// of `<url>/<key>` in any of its layouts: `subdirs` (ab/cdef…), `flat` (abcdef…) or
// `bazel` (ac/<64 hex>, a padded ccache key, not a content hash: never checked as one).
// The namespace is in the path. ccache waits 100 ms to connect, then runs without.

const KEY = /^[0-9a-v]{2,128}$/;

export async function ccacheRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const cache = new KeyedCache(deps, 'ccache');
  artifactRoutes(app, '/ccache/:ns/*', (request) => ({ cache, ns: namespaceOf(request), key: keyOf(request) }), 201);
}

/** The key, whatever the layout: the path's segments joined (ab/cdef → abcdef; ac/… → ac…). */
function keyOf(request: FastifyRequest): string {
  const path = (request.params as { '*': string })['*'];
  const key = path.split('/').join('');
  if (path.split('/').length > 2 || !KEY.test(key)) throw new LarderError('LARDER_INVALID_KEY', `${JSON.stringify(path.slice(0, 80))} is not a ccache key`);
  return key;
}
