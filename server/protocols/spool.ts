import { createHash } from 'node:crypto';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { finishDigest } from '../../shared/wire/digest.ts';
import { LarderError } from '../../shared/errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { disposableChunks, likewise } from '../storage/disposable-chunks.ts';
import { counted } from '../routes/blobs.ts';

// Other tools' caches send bodies larder cannot name before they end: their keys are
// not content hashes. Such a body streams into the store under a temporary name while it
// is hashed (never held in memory, whatever its size, and written once: a rename on disk,
// a copy inside S3), then is placed under its digest, or dropped when it is not what it
// claimed to be.

/** A body passed through as a stream by a catch-all parser; else the raw request (sent without Content-Type). Its chunks are the socket's: the store may free them once written. */
export function bodyStream(request: FastifyRequest): Readable {
  const parsed = request.body as Readable | undefined;
  return disposableChunks(parsed && typeof parsed.pipe === 'function' ? parsed : request.raw, request.raw.socket);
}

export interface Stored {
  digest: string;
  size: number;
}

/** expectDigest: a content-addressed body (Bazel's CAS) must hash to it, or nothing is stored. */
export async function storeSpooled(deps: Pick<RouteDeps, 'store' | 'stats' | 'retention' | 'limits'>, ns: string, body: Readable, expectDigest?: string): Promise<Stored> {
  const hash = createHash('sha256');
  let size = 0;
  const max = deps.limits.maxBlobBytes;
  const hashing = likewise(body, new Transform({
    transform(chunk: Buffer, _encoding, callback) {
      size += chunk.length;
      if (size > max) return callback(new LarderError('LARDER_TOO_LARGE', `the upload is over the ${max}-byte limit (--max-blob-size)`));
      hash.update(chunk);
      callback(null, chunk);
    },
  }));
  pipeline(body, hashing).catch(() => {}); // a failure reaches the store through hashing
  const staged = await deps.store.stageBlob(ns, hashing);
  const digest = finishDigest(hash);
  if (expectDigest !== undefined && digest !== expectDigest) {
    await staged.discard();
    throw new LarderError('LARDER_DIGEST_MISMATCH', `the body hashes to ${digest}, not the ${expectDigest} it was sent as; nothing was stored`);
  }
  const doomed = (await deps.retention.doomedAmong(ns, [digest])).has(digest);
  const outcome = await staged.commit(digest, { replace: doomed });
  counted(deps, ns, digest, size, outcome, doomed);
  return { digest, size };
}
