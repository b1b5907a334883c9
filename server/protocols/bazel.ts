import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { namespaceOf } from '../routes/params.ts';
import { KeyedCache } from './keyed.ts';
import { artifactRoutes } from './serve.ts';

// Bazel's HTTP remote cache (--remote_cache=http://HOST/bazel/<namespace>
// --remote_header=Authorization=Bearer <larder token>): `/ac/<sha256>` holds action
// results (keyed by the action's digest, not their own content) and `/cas/<sha256>` the
// outputs, content-addressed: a CAS upload must hash to its name or nothing is stored.
// Both are entries here (bazel-ac.…, bazel-cas.…), so retention keeps what builds use.
// Bazel sends its PUTs with no Content-Type.

const SHA256 = /^[0-9a-f]{64}$/;

export async function bazelRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const caches = { ac: new KeyedCache(deps, 'bazel', 'bazel-ac'), cas: new KeyedCache(deps, 'bazel', 'bazel-cas') };
  artifactRoutes(app, '/bazel/:ns/:kind/:hash', (request) => {
    const { cache, hash, kind } = parse(request);
    return { cache, ns: namespaceOf(request), key: hash, ...(kind === 'cas' ? { contentDigest: `sha256:${hash}` } : {}) };
  }, 200);

  function parse(request: FastifyRequest): { cache: KeyedCache; hash: string; kind: 'ac' | 'cas' } {
    const { kind, hash } = request.params as { kind: string; hash: string };
    if ((kind !== 'ac' && kind !== 'cas') || !SHA256.test(hash)) throw new LarderError('LARDER_NOT_FOUND', `no Bazel cache path ${kind}/${hash.slice(0, 80)}: it is ac/<sha256> or cas/<sha256>`);
    return { cache: caches[kind], hash, kind };
  }
}
