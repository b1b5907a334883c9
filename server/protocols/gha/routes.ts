import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../../routes/deps.ts';
import { blobUrlRoutes } from './blob-urls.ts';
import { GhaService } from './service.ts';
import { twirpRoutes } from './twirp.ts';
import { v1Routes } from './v1.ts';

// The GitHub Actions cache protocol, both versions, as an adapter over larder's store
// (docs/github-actions-cache.md): actions/cache, the setup-* actions' caches and
// BuildKit's type=gha cache use larder when the runner's environment points them here.

export async function ghaRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const service = new GhaService(deps);
  await app.register(async (twirp) => twirpRoutes(twirp, service));
  await v1Routes(app, service);
  await blobUrlRoutes(app, service);
}
