import type { FastifyInstance } from 'fastify';
import { LarderError } from '../../../shared/errors.ts';
import { bodyStream, type Stored } from '../spool.ts';
import { checkGhaKey } from './names.ts';
import type { GhaService } from './service.ts';

// Version 1 of the GitHub Actions cache protocol (ACTIONS_CACHE_URL=<server>/): a
// lookup that answers the archive's URL or 204, a reservation that answers a cache id,
// the archive in ranged PATCHes (up to 4 at once, in any order), and a commit with the
// total size, which publishes the entry.

const API = '/_apis/artifactcache';
// A chunk's name orders chunks by offset: c + 16 digits.
const chunkName = (start: number) => `c${String(start).padStart(16, '0')}`;

export async function v1Routes(app: FastifyInstance, service: GhaService): Promise<void> {
  app.get<{ Querystring: { keys?: string; version?: string } }>(`${API}/cache`, async (request, reply) => {
    const keys = (request.query.keys ?? '').split(',').filter((k) => k !== '').map((k) => checkGhaKey(k));
    const version = request.query.version;
    if (keys.length === 0 || !version) throw new LarderError('LARDER_BAD_REQUEST', 'a lookup needs keys=KEY[,RESTORE_KEY…] and version=');
    const [key, ...restoreKeys] = keys as [string, ...string[]];
    const found = await service.find(request, key, restoreKeys, version);
    if (!found) return reply.code(204).send();
    return { cacheKey: found.key, scope: service.namespaceOf(request.access), creationTime: found.createdAt, archiveLocation: found.url };
  });

  app.post<{ Body: { key?: unknown; version?: unknown } }>(`${API}/caches`, async (request, reply) => {
    const key = checkGhaKey(request.body?.key);
    const version = request.body?.version;
    if (typeof version !== 'string' || version === '') throw new LarderError('LARDER_BAD_REQUEST', 'a reservation needs a version');
    const upload = await service.reserve(request.access, key, version);
    if (upload === 'exists' || upload === 'busy') throw new LarderError('LARDER_ENTRY_EXISTS', upload === 'exists' ? `cache entry ${key} already exists` : `another job is uploading cache entry ${key}`);
    return reply.code(201).send({ cacheId: Number(upload.id) });
  });

  app.patch<{ Params: { id: string } }>(`${API}/caches/:id`, async (request, reply) => {
    const upload = await service.ownUpload(request.access, await service.uploads.get(request.params.id), request.params.id);
    const range = /^bytes (\d+)-(\d+)\/(\*|\d+)$/.exec(String(request.headers['content-range'] ?? ''));
    if (!range) throw new LarderError('LARDER_BAD_REQUEST', 'a chunk needs Content-Range: bytes START-END/*');
    const [start, end] = [Number(range[1]), Number(range[2])];
    const stored = await service.uploads.putBlock(upload, chunkName(start), bodyStream(request));
    if (stored.size !== end - start + 1) throw new LarderError('LARDER_INCOMPLETE_BODY', `the chunk at ${start} holds ${stored.size} bytes, not the ${end - start + 1} its range says`);
    return reply.code(204).send();
  });

  app.post<{ Params: { id: string }; Body: { size?: unknown } }>(`${API}/caches/:id`, async (request, reply) => {
    const upload = await service.ownUpload(request.access, await service.uploads.get(request.params.id), request.params.id);
    const size = Number(request.body?.size);
    if (!Number.isSafeInteger(size) || size < 0) throw new LarderError('LARDER_BAD_REQUEST', 'a commit needs the archive size');
    // The chunks must cover the archive exactly, each starting where the one before ended.
    const chunks: Stored[] = [];
    let offset = 0;
    for (const name of (await service.uploads.blockNames(upload)).sort()) {
      const chunk = await service.uploads.block(upload, name);
      if (!chunk || Number(name.slice(1)) !== offset) throw new LarderError('LARDER_BAD_REQUEST', `the chunks do not cover the archive: none starts at byte ${offset}; upload it again`);
      chunks.push(chunk);
      offset += chunk.size;
    }
    if (offset !== size) throw new LarderError('LARDER_BAD_REQUEST', `the chunks hold ${offset} bytes, not the ${size} committed; upload it again`);
    await service.uploads.commitBlocks(upload, chunks);
    await service.uploads.publish(upload);
    return reply.code(204).send();
  });
}
