import type { FastifyError, FastifyInstance } from 'fastify';
import { LarderError } from '../../../shared/errors.ts';
import { toLarderError } from '../../errors.ts';
import { UPLOAD_TTL_MS } from './capability.ts';
import { checkGhaKey } from './names.ts';
import type { GhaService } from './service.ts';

// Version 2 of the GitHub Actions cache protocol (ACTIONS_CACHE_SERVICE_V2, as
// @actions/cache 4+ speaks it): Twirp with JSON bodies, at the host's root (the client
// keeps only the origin of ACTIONS_RESULTS_URL). Every answer, errors included, is JSON:
// a client that cannot parse one retries it five times with backoff.

const SERVICE = '/twirp/github.actions.results.api.v1.CacheService/:method';

// Twirp's error codes, by larder's status
const TWIRP_CODES: Record<number, string> = { 400: 'invalid_argument', 401: 'unauthenticated', 403: 'permission_denied', 404: 'not_found', 409: 'already_exists', 413: 'resource_exhausted' };

type Body = Record<string, unknown>;

export async function twirpRoutes(app: FastifyInstance, service: GhaService): Promise<void> {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const error = toLarderError(err);
    if (error.status >= 500) request.log.error({ err }, error.message);
    // The client recognises refusals by these prefixes (and says so, instead of retrying).
    const prefix = error.code === 'LARDER_FORBIDDEN' ? (request.url.endsWith('GetCacheEntryDownloadURL') ? 'cache read denied: ' : 'cache write denied: ') : '';
    return reply.code(error.status).send({ code: TWIRP_CODES[error.status] ?? 'internal', msg: `${prefix}${error.message}`, meta: { larder_code: error.code } });
  });

  app.post<{ Params: { method: string }; Body: Body }>(SERVICE, async (request, reply) => {
    const body = request.body && typeof request.body === 'object' ? request.body : {};
    const version = requiredString(body.version, 'version');
    switch (request.params.method) {
      case 'GetCacheEntryDownloadURL': {
        const key = checkGhaKey(body.key);
        const restoreKeys = Array.isArray(body.restore_keys) ? body.restore_keys.map((k) => checkGhaKey(k, 'restore_keys')) : [];
        const found = await service.find(request, key, restoreKeys, version);
        return found ? { ok: true, signed_download_url: found.url, matched_key: found.key } : { ok: false, signed_download_url: '', matched_key: '' };
      }
      case 'CreateCacheEntry': {
        const key = checkGhaKey(body.key);
        const upload = await service.reserve(request.access, key, version);
        if (upload === 'exists') throw new LarderError('LARDER_ENTRY_EXISTS', `cache entry ${key} (version ${version}) already exists; entries are immutable`);
        if (upload === 'busy') throw new LarderError('LARDER_ENTRY_EXISTS', `another job is uploading cache entry ${key} (version ${version})`);
        const url = await service.capabilities.url(request, { kind: 'u', ns: upload.ns, id: upload.id }, UPLOAD_TTL_MS);
        return { ok: true, signed_upload_url: url, message: '' };
      }
      case 'FinalizeCacheEntryUpload': {
        const key = checkGhaKey(body.key);
        const access = request.access;
        const upload = await service.ownUpload(access, await service.uploads.pending(service.namespaceOf(access), key, version), `for ${key}`);
        const size = Number(body.size_bytes);
        if (upload.blob && Number.isSafeInteger(size) && size !== upload.blob.size) {
          throw new LarderError('LARDER_BAD_REQUEST', `the archive uploaded for ${key} holds ${upload.blob.size} bytes, not the ${size} finalized`);
        }
        const outcome = await service.uploads.publish(upload);
        if (outcome === 'exists') return { ok: false, entry_id: '0', message: `cache entry ${key} was saved by another job meanwhile` };
        return { ok: true, entry_id: upload.id, message: '' };
      }
      default:
        return reply.code(404).send({ code: 'bad_route', msg: `no method ${request.params.method} in the cache service` });
    }
  });
}

function requiredString(value: unknown, name: string): string {
  if (typeof value !== 'string' || value === '' || value.length > 1024) throw new LarderError('LARDER_BAD_REQUEST', `${name} must be a string of 1 to 1024 characters`);
  return value;
}
