import Fastify, { type FastifyInstance, LogController } from 'fastify';
import type { TokenTable } from './auth/access.ts';
import { installAuth } from './auth/hook.ts';
import { installErrorHandlers } from './errors.ts';
import { closeConnectionsOnShutdown } from './shutdown.ts';
import { dashboardRoutes } from './dashboard/route.ts';
import { blobRoutes } from './routes/blobs.ts';
import { clientFileRoutes } from './routes/client-files.ts';
import type { Limits, RouteDeps } from './routes/deps.ts';
import { entryRoutes } from './routes/entries.ts';
import { healthRoutes } from './routes/health.ts';
import { protocolRoutes } from './protocols/routes.ts';
import { lookupRoutes } from './routes/lookup.ts';
import { statsRoutes } from './routes/stats.ts';
import { Retention, type RetentionOptions } from './retention/retention.ts';
import { Stats } from './stats.ts';
import type { Store } from './storage/store.ts';

export interface AppOptions {
  store: Store;
  limits?: Partial<Limits>;
  /** when set, every route but the probes needs a bearer token from this table */
  tokens?: TokenTable;
  logger?: boolean | { level: string };
  /** how long a shutdown waits for requests in flight before cutting them (default 30 s) */
  shutdownGraceMs?: number;
  /** serve HTTPS with this certificate and key (PEM) */
  tls?: { cert: Buffer; key: Buffer };
  /** where the client package and executables this server serves at /client/ are */
  clientFiles?: string;
  /** caps and timings of eviction and collection, or the Retention itself (main.ts makes one and starts its timers) */
  retention?: Partial<RetentionOptions> | Retention;
}

const PROBES = new Set(['/healthz', '/readyz']);

export const DEFAULT_LIMITS: Limits = {
  maxBlobBytes: 4 * 1024 ** 3,
  maxManifestBytes: 4 * 1024 ** 2,
};

/** Builds the Fastify app; it does not listen (main.ts does, tests use inject or port 0). */
export async function buildApp(options: AppOptions): Promise<FastifyInstance> {
  // A pure API: no browser-facing security headers (CSP, frame options) to set. Timeouts
  // are: a socket idle for 2 minutes is closed; a whole request (a big upload on a slow
  // link) may take 30 minutes; Node's own header timeout (60 s) stops slow-header attacks.
  const app = Fastify({
    ...(options.tls ? { https: { cert: options.tls.cert, key: options.tls.key } } : {}),
    logger: options.logger ?? false,
    // JSON bodies are small (lookups, manifests); blob bodies bypass this limit and are
    // bounded by maxBlobBytes while they stream.
    bodyLimit: 1024 * 1024,
    connectionTimeout: 120_000,
    requestTimeout: 30 * 60_000,
    keepAliveTimeout: 65_000,
    return503OnClosing: true,
    routerOptions: { maxParamLength: 512 },
    // Refuse what the schemas don't name (Fastify's default quietly strips it), and coerce
    // nothing: a JSON number is finite; the string "Infinity" coerced was not, and broke
    // the stats. The one number in a query string is parsed by its route.
    ajv: { customOptions: { removeAdditional: false, coerceTypes: false } },
    // One line per request, written below, instead of Fastify's two.
    logController: new LogController({ disableRequestLogging: true }),
  }) as unknown as FastifyInstance; // the HTTPS variant serves the same routes
  const retention = options.retention instanceof Retention ? options.retention : new Retention(options.store, options.retention);
  const deps: RouteDeps = { store: options.store, stats: new Stats(), limits: { ...DEFAULT_LIMITS, ...options.limits }, retention };
  deps.stats.metrics.watchRetention(() => retention.view());
  const { metrics } = deps.stats;
  installErrorHandlers(app, (code) => metrics.storeErrors.inc({ code }));
  // Latency of every request, by route pattern (never the raw URL: bounded label values),
  // and one log line; a load balancer's probes every few seconds only at debug.
  app.addHook('onResponse', async (request, reply) => {
    const route = request.routeOptions.url ?? 'unmatched';
    metrics.requestSeconds.observe({ route, method: request.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
    const line = { method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime) };
    if (PROBES.has(route) && reply.statusCode < 400) request.log.debug(line, 'probe');
    else request.log.info(line, 'request');
  });
  installAuth(app, options.tokens);
  await app.register(healthRoutes, deps);
  await app.register(lookupRoutes, deps);
  await app.register(entryRoutes, deps);
  await app.register(blobRoutes, deps);
  await app.register(statsRoutes, deps);
  await app.register(protocolRoutes, deps);
  await app.register(dashboardRoutes);
  await app.register(clientFileRoutes, { dir: options.clientFiles });
  closeConnectionsOnShutdown(app, options.shutdownGraceMs ?? 30_000);
  // What this server saw used is written before the store closes.
  app.addHook('onClose', async () => {
    await retention.stop();
    await options.store.close();
  });
  return app;
}
