import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyInstance, FastifyReply } from 'fastify';
import { createHash } from 'node:crypto';
import { finishDigest, VerifyingStream } from '../../shared/wire/digest.ts';
import { disposableChunks, likewise } from '../storage/disposable-chunks.ts';
import { LarderError } from '../../shared/errors.ts';
import { type MissingRequest, type MissingResponse, missingRequestSchema, type VerifyResponse } from '../../shared/wire/protocol.ts';
import { parseRange } from '../range.ts';
import type { PutOutcome } from '../storage/store.ts';
import type { RouteDeps } from './deps.ts';
import { digestOf, namespaceOf } from './params.ts';
import { sendBlob } from './send-blob.ts';

const BLOB_TYPE = 'application/octet-stream';

export async function blobRoutes(app: FastifyInstance, { store, stats, limits, retention }: RouteDeps): Promise<void> {
  // Blob bodies are handed on as the raw request stream: nothing is buffered here.
  app.addContentTypeParser(BLOB_TYPE, (_request, payload, done) => done(null, payload));

  app.post<{ Body: MissingRequest }>('/v1/ns/:ns/blobs/missing', { schema: { body: missingRequestSchema } }, async (request): Promise<MissingResponse> => {
    const ns = namespaceOf(request);
    request.access.requireWrite(ns);
    const { digests, sizes } = request.body;
    if (sizes && sizes.length !== digests.length) throw new LarderError('LARDER_BAD_REQUEST', `${sizes.length} sizes for ${digests.length} digests`);
    // A doomed blob is missing to a save: it uploads it again, and the write keeps it.
    const doomed = await retention.doomedAmong(ns, digests);
    const missing = [...new Set([...(await store.missingBlobs(ns, digests, sizes)), ...digests.filter((d) => doomed.has(d))])];
    stats.add(ns, 'blobsPresent', new Set(digests).size - missing.length);
    return { missing };
  });

  // A client found this blob corrupt. The server does not take its word: it hashes what
  // it stores, and removes the blob only when it really is corrupt, so the next save
  // uploads it again and every entry that uses it is whole once more.
  app.post('/v1/ns/:ns/blobs/:digest/verify', async (request): Promise<VerifyResponse> => {
    const ns = namespaceOf(request);
    const digest = digestOf(request);
    request.access.requireRead(ns);
    const size = await store.statBlob(ns, digest);
    const body = size === undefined ? undefined : await store.getBlob(ns, digest);
    if (size === undefined || !body) throw new LarderError('LARDER_BLOB_NOT_FOUND', `no blob ${digest} in ${ns}`);
    const hash = createHash('sha256');
    for await (const chunk of body) hash.update(chunk as Buffer);
    if (finishDigest(hash) === digest) return { digest, intact: true };
    await store.deleteBlob(ns, digest);
    stats.corruptBlobRemoved(ns);
    request.log.warn({ namespace: ns, digest, size }, 'corrupt blob removed: its bytes do not match its digest');
    return { digest, intact: false };
  });

  app.head('/v1/ns/:ns/blobs/:digest', async (request, reply) => {
    const ns = namespaceOf(request);
    const digest = digestOf(request);
    request.access.requireRead(ns);
    const size = await store.statBlob(ns, digest);
    if (size === undefined) throw new LarderError('LARDER_BLOB_NOT_FOUND', `no blob ${digest} in ${ns}`);
    blobHeaders(reply, digest).header('content-length', size);
    return reply.send();
  });

  app.get('/v1/ns/:ns/blobs/:digest', { exposeHeadRoute: false }, async (request, reply) => {
    const ns = namespaceOf(request);
    const digest = digestOf(request);
    request.access.requireRead(ns);
    const size = await store.statBlob(ns, digest);
    if (size === undefined) throw new LarderError('LARDER_BLOB_NOT_FOUND', `no blob ${digest} in ${ns}`);
    const range = parseRange(request.headers.range, size);
    const body = await store.getBlob(ns, digest, range);
    if (!body) throw new LarderError('LARDER_BLOB_NOT_FOUND', `no blob ${digest} in ${ns}`);
    blobHeaders(reply, digest);
    const length = range ? range.end - range.start + 1 : size;
    if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${size}`);
    stats.add(ns, 'bytesOut', length);
    return sendBlob(reply.header('content-length', length), body);
  });

  app.put<{ Body: Readable }>('/v1/ns/:ns/blobs/:digest', async (request, reply) => {
    const ns = namespaceOf(request);
    const digest = digestOf(request);
    request.access.requireWrite(ns);
    const declared = request.headers['content-length'];
    if (declared === undefined) throw new LarderError('LARDER_LENGTH_REQUIRED', 'a blob upload needs Content-Length');
    const size = Number(declared);
    if (size > limits.maxBlobBytes) throw new LarderError('LARDER_TOO_LARGE', `blob of ${size} bytes is over the ${limits.maxBlobBytes}-byte limit`);
    const body = request.body;
    if (!body || typeof body.pipe !== 'function') throw new LarderError('LARDER_UNSUPPORTED_MEDIA_TYPE', `a blob upload is sent as ${BLOB_TYPE}`);
    const outcome = await storeBlob({ store, stats, retention }, ns, digest, size, disposableChunks(body, request.raw.socket));
    return reply.code(outcome === 'created' ? 201 : 200).send({ digest, size });
  });
}

/**
 * Stores one blob body, checked against its digest and size on the way in; a doomed blob
 * (server/retention) written again is kept. What every upload goes through, larder's own
 * and the protocol adapters'.
 */
export async function storeBlob({ store, stats, retention }: Pick<RouteDeps, 'store' | 'stats' | 'retention'>, ns: string, digest: string, size: number, body: Readable): Promise<PutOutcome> {
  const doomed = (await retention.doomedAmong(ns, [digest])).has(digest);
  // The hash check sits in front of the store: a mismatch fails the stream before it commits.
  const verified = likewise(body, new VerifyingStream(digest, size));
  // pipeline keeps a listener on both streams; a failure reaches the store through `verified`.
  pipeline(body, verified).catch(() => {});
  const outcome = await store.putBlob(ns, digest, verified, size, { replace: doomed });
  counted({ stats, retention }, ns, digest, size, outcome, doomed);
  return outcome;
}

/** What a stored blob changes: a doomed one is rescued; a new one is counted, and counts toward the caps. */
export function counted({ stats, retention }: Pick<RouteDeps, 'stats' | 'retention'>, ns: string, digest: string, size: number, outcome: PutOutcome, doomed: boolean): void {
  if (doomed) retention.rescued(ns, digest);
  if (outcome === 'created') {
    stats.add(ns, 'blobsUploaded');
    stats.add(ns, 'bytesIn', size);
    retention.uploaded(ns, size);
  }
}

function blobHeaders(reply: FastifyReply, digest: string): FastifyReply {
  // Content-addressed bytes never change: any cache may keep them forever.
  return reply.type(BLOB_TYPE).header('etag', `"${digest}"`).header('cache-control', 'public, max-age=31536000, immutable').header('accept-ranges', 'bytes');
}
