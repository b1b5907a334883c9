import type { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { LarderError } from '../../../shared/errors.ts';
import { parseRange } from '../../range.ts';
import { verifiedRead } from '../keyed.ts';
import { bodyStream, type Stored } from '../spool.ts';
import { PROTOCOL } from './names.ts';
import type { GhaService } from './service.ts';
import type { Upload } from './uploads.ts';

// The capability URLs (capability.ts): downloads are a plain GET (ranges served); uploads
// speak as much of Azure Blob Storage as the Azure SDK uses for a block blob: Put Blob
// (one body, up to 128 MiB), Put Block (?comp=block&blockid=…, up to 8 at once, in any
// order) and Put Block List (?comp=blocklist, an XML list of the block ids in order).
// Each block is stored as it streams in; nothing is held in memory.

const MAX_BLOCK_LIST_BYTES = 1024 * 1024;
const BLOCK_ID = /^[A-Za-z0-9+/=_-]{1,128}$/;

export async function blobUrlRoutes(app: FastifyInstance, service: GhaService): Promise<void> {
  const { store, stats } = service.deps;

  app.get<{ Params: { capability: string } }>('/gha/blobs/:capability', async (request, reply) => {
    const { ns, id } = await service.capabilities.check(request.params.capability, 'd');
    const digest = `sha256:${id}`;
    const size = await store.statBlob(ns, digest);
    if (size === undefined) throw new LarderError('LARDER_BLOB_NOT_FOUND', 'the cache archive is gone (collected after its entry was evicted); the next save stores it again');
    const range = parseRange(request.headers.range, size);
    const body = await store.getBlob(ns, digest, range);
    if (!body) throw new LarderError('LARDER_BLOB_NOT_FOUND', 'the cache archive is gone; the next save stores it again');
    const length = range ? range.end - range.start + 1 : size;
    if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
    stats.add(ns, 'bytesOut', length);
    stats.protocolServed(PROTOCOL, length);
    const checked = range ? body : verifiedRead(service.deps, ns, digest, size, body);
    return reply.type('application/octet-stream').header('accept-ranges', 'bytes').header('content-length', length).send(checked);
  });

  app.put<{ Params: { capability: string }; Querystring: { comp?: string; blockid?: string } }>('/gha/blobs/:capability', async (request, reply) => {
    const { id } = await service.capabilities.check(request.params.capability, 'u');
    const upload = await service.uploads.get(id);
    if (!upload || upload.blob) throw new LarderError('LARDER_ENTRY_NOT_FOUND', `upload ${id} is not in flight (finished, or never reserved); reserve the cache entry again`);
    const body = bodyStream(request);
    const { comp, blockid } = request.query;
    if (comp === 'block') {
      if (!blockid || !BLOCK_ID.test(blockid)) throw new LarderError('LARDER_BAD_REQUEST', 'Put Block needs a blockid of up to 128 base64 characters');
      await service.uploads.putBlock(upload, blockName(blockid), body);
    } else if (comp === 'blocklist') {
      await service.uploads.commitBlocks(upload, await listedBlocks(service, upload, await readSmall(body)));
    } else if (comp === undefined) {
      await service.uploads.commitBody(upload, body);
    } else {
      throw new LarderError('LARDER_BAD_REQUEST', `comp=${comp} is not an operation this server takes`);
    }
    return reply.code(201).send();
  });
}

/** A block id as a bookkeeping name: its bytes in hex. */
function blockName(blockid: string): string {
  return Buffer.from(blockid, 'utf8').toString('hex');
}

async function listedBlocks(service: GhaService, upload: Upload, xml: string): Promise<Stored[]> {
  const ids = [...xml.matchAll(/<(Latest|Committed|Uncommitted)>([^<]*)<\/\1>/g)].map((m) => m[2] ?? '');
  if (ids.length === 0) throw new LarderError('LARDER_BAD_REQUEST', 'the block list names no blocks');
  const blocks: Stored[] = [];
  for (const blockid of ids) {
    const block = BLOCK_ID.test(blockid) ? await service.uploads.block(upload, blockName(blockid)) : undefined;
    if (!block) throw new LarderError('LARDER_BAD_REQUEST', `block ${blockid} was never uploaded; upload it, then the list`);
    blocks.push(block);
  }
  return blocks;
}

async function readSmall(body: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  let length = 0;
  for await (const chunk of body) {
    length += (chunk as Buffer).length;
    if (length > MAX_BLOCK_LIST_BYTES) throw new LarderError('LARDER_TOO_LARGE', `a block list is at most ${MAX_BLOCK_LIST_BYTES} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}
