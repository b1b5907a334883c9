import type { FastifyInstance } from 'fastify';
import type { RouteDeps } from '../routes/deps.ts';
import { bazelRoutes } from './bazel.ts';
import { ccacheRoutes } from './ccache.ts';
import { ghaRoutes } from './gha/routes.ts';
import { gradleRoutes } from './gradle.ts';
import { nxRoutes } from './nx.ts';
import { turborepoRoutes } from './turborepo.ts';

// Other tools' cache protocols, each an adapter over the one store port
// (docs/protocols.md). Bodies pass through as streams whatever their type: Bazel sends
// none, Gradle its own.

export async function protocolRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  for (const routes of [ghaRoutes, turborepoRoutes, nxRoutes, ccacheRoutes, bazelRoutes, gradleRoutes]) {
    await app.register(async (scope) => {
      scope.addContentTypeParser('*', (_request, payload, done) => done(null, payload));
      await routes(scope, deps);
    });
  }
}
