import { createHash } from 'node:crypto';
import { createReadStream, createWriteStream, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { FastifyRequest } from 'fastify';
import { finishDigest } from '../../shared/digest.ts';
import { LarderError } from '../../shared/errors.ts';
import type { RouteDeps } from '../routes/deps.ts';
import { storeBlob } from '../routes/blobs.ts';

// Other tools' caches send bodies larder cannot name before they end: their keys are
// not content hashes. Such a body is spooled to a temp file while it is hashed (never
// held in memory, whatever its size), then stored like any upload under its digest,
// and hashed once more on the way in.

/** A body passed through as a stream by a catch-all parser; else the raw request (sent without Content-Type). */
export function bodyStream(request: FastifyRequest): Readable {
  const parsed = request.body as Readable | undefined;
  return parsed && typeof parsed.pipe === 'function' ? parsed : request.raw;
}

export interface Stored {
  digest: string;
  size: number;
}

export async function storeSpooled(deps: Pick<RouteDeps, 'store' | 'stats' | 'retention' | 'limits'>, ns: string, body: Readable): Promise<Stored> {
  const dir = mkdtempSync(join(tmpdir(), 'larder-spool-'));
  const file = join(dir, 'body');
  try {
    const hash = createHash('sha256');
    let size = 0;
    const max = deps.limits.maxBlobBytes;
    const counting = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        size += chunk.length;
        if (size > max) return callback(new LarderError('LARDER_TOO_LARGE', `the upload is over the ${max}-byte limit (--max-blob-size)`));
        hash.update(chunk);
        callback(null, chunk);
      },
    });
    await pipeline(body, counting, createWriteStream(file));
    const digest = finishDigest(hash);
    await storeBlob(deps, ns, digest, size, createReadStream(file));
    return { digest, size };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
