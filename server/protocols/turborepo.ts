import type { FastifyError, FastifyInstance, FastifyRequest } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import { toLarderError } from '../errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { namespaceFor } from './namespace.ts';
import { KeyedCache } from './keyed.ts';
import { receiveArtifact, sendArtifact, headArtifact } from './serve.ts';

// Turborepo's remote cache (TURBO_API=<server>, TURBO_TOKEN=<larder token>,
// TURBO_TEAM=<team>): `GET/HEAD/PUT /v8/artifacts/:hash`, the status and events routes,
// and the batch query. An artifact is turbo's own zstd tarball, stored as it comes; its
// x-artifact-tag (artifact signing) and x-artifact-duration come back with it.
// The namespace is the team (?slug= from TURBO_TEAM, or ?teamId=), lower-cased, any other
// character as '-'; with no team, the token's one namespace, else `turbo`.
// Errors are Turborepo's `{"error": {"code", "message"}}`: a PUT refused with 403 makes
// turbo stop uploading and keep reading, the right outcome for a read-only token.

const HASH = /^[A-Za-z0-9_-]{1,128}$/;
const ARTIFACT_HEADERS = ['x-artifact-tag', 'x-artifact-duration'] as const;

export async function turborepoRoutes(app: FastifyInstance, deps: RouteDeps): Promise<void> {
  const cache = new KeyedCache(deps, 'turborepo', 'turbo');
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toLarderError(err);
    if (error.status >= 500) request.log.error({ err }, error.message);
    const code = error.status === 403 ? 'forbidden' : error.status === 401 ? 'unauthorized' : error.status === 404 ? 'not_found' : error.status >= 500 ? 'internal_error' : 'bad_request';
    return reply.code(error.status).send({ error: { code, message: error.message } });
  });
  // TURBO_PREFLIGHT: turbo asks first, and sends Authorization only if the answer allows it.
  app.options('/v8/*', async (_request, reply) =>
    reply
      .header('access-control-allow-origin', '*')
      .header('access-control-allow-methods', 'GET, HEAD, PUT, POST, OPTIONS')
      .header('access-control-allow-headers', 'Authorization, Content-Type, User-Agent, x-artifact-duration, x-artifact-tag, x-artifact-client-ci, x-artifact-client-interactive')
      .header('access-control-max-age', '86400')
      .code(200)
      .send(),
  );
  app.get('/v8/artifacts/status', async (request) => {
    request.access.requireRead(namespaceOf(request));
    return { status: 'enabled' };
  });
  // Usage events (HIT/MISS as turbo saw them): larder counts its own.
  app.post('/v8/artifacts/events', async (_request, reply) => reply.code(200).send({}));
  app.post<{ Body: { hashes?: unknown } }>('/v8/artifacts', async (request) => {
    const hashes = request.body?.hashes;
    if (!Array.isArray(hashes) || hashes.length > 1000) throw new LarderError('LARDER_BAD_REQUEST', 'the query is {"hashes": [...]}, at most 1,000');
    const ns = namespaceOf(request);
    const answers: Record<string, unknown> = {};
    for (const hash of hashes.map(String)) {
      const size = HASH.test(hash) ? await cache.has(request.access, ns, hash) : undefined;
      answers[hash] = size === undefined ? null : { size, taskDurationMs: 0 };
    }
    return answers;
  });
  app.get<{ Params: { hash: string } }>('/v8/artifacts/:hash', { exposeHeadRoute: false }, async (request, reply) =>
    sendArtifact(cache, request, reply, namespaceOf(request), hashOf(request), () => ({ error: { code: 'not_found', message: 'no such artifact' } }), (meta) =>
      Object.fromEntries(ARTIFACT_HEADERS.filter((h) => meta[h] !== undefined).map((h) => [h, meta[h] as string])),
    ),
  );
  app.head<{ Params: { hash: string } }>('/v8/artifacts/:hash', async (request, reply) => headArtifact(cache, request, reply, namespaceOf(request), hashOf(request)));
  app.put<{ Params: { hash: string } }>('/v8/artifacts/:hash', async (request, reply) => {
    const hash = hashOf(request);
    const meta: Record<string, string> = {};
    for (const header of ARTIFACT_HEADERS) {
      const value = request.headers[header];
      if (typeof value === 'string' && value.length <= 1024) meta[header] = value;
    }
    await receiveArtifact(cache, request, namespaceOf(request), hash, { meta });
    return reply.code(202).send({ urls: [`${request.protocol}://${request.headers.host ?? 'localhost'}/v8/artifacts/${hash}`] });
  });
}

function hashOf(request: FastifyRequest): string {
  const hash = (request.params as { hash: string }).hash;
  if (!HASH.test(hash)) throw new LarderError('LARDER_INVALID_KEY', `artifact hash ${JSON.stringify(hash.slice(0, 80))} is not a Turborepo hash`);
  return hash;
}

/** The team's namespace, or the token's. */
function namespaceOf(request: FastifyRequest): string {
  const query = request.query as { slug?: string; teamId?: string };
  const team = query.slug || query.teamId;
  if (!team) return namespaceFor(request.access, 'turbo');
  const ns = team.toLowerCase().replace(/[^a-z0-9._-]/g, '-').replace(/^[^a-z0-9]+/, '').slice(0, 64);
  if (!ns) throw new LarderError('LARDER_INVALID_NAMESPACE', `team ${JSON.stringify(team)} names no namespace`);
  return ns;
}
