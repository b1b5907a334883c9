import { isLarderError, LarderError } from '../../shared/errors.ts';
import type { PartRef } from '../../shared/wire/manifest.ts';
import { fitsInMemory, readPart } from '../archive/unpack.ts';
import type { SpareMemory } from '../spare-memory.ts';
import type { CacheClient } from './transfer.ts';

// A part's bytes, downloaded into memory of its own (a restore's is used again from part
// to part: client/spare-memory.ts). On restore the main thread downloads while the part
// workers write: a worker's synchronous writes kept its own downloads from being read,
// and m2's parts arrived at ~120 MB/s instead of ~900.

/**
 * A part's bytes, in `memory` when given: read straight into it over a connection of the
 * client's own where the server is plain HTTP (direct-get.ts), else through node:http. A
 * download that stalls or breaks is tried once more, the ordinary way.
 */
export async function downloadPart(client: CacheClient, part: PartRef, memory?: SpareMemory): Promise<Buffer> {
  const take = memory ? (size: number) => memory.take(size) : undefined;
  try {
    const direct = fitsInMemory(part) ? await client.getBlobInto(part.digest, part.size, take ?? Buffer.allocUnsafe) : undefined;
    return direct ?? (await readPart(await client.getBlob(part.digest), part, take, true));
  } catch (err) {
    const error = downloadError(err, part);
    if (error.code !== 'LARDER_TIMEOUT' && error.code !== 'LARDER_UNREACHABLE') throw error;
    return readPart(await client.getBlob(part.digest), part, take, true).catch((again: unknown) => Promise.reject(downloadError(again, part)));
  }
}

/** A body that broke off (the socket timed out or closed) as a catalogue error, not "aborted". */
export function downloadError(err: unknown, part: PartRef): LarderError {
  if (isLarderError(err)) return err;
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new LarderError('LARDER_TIMEOUT', `the download of part ${part.digest} stalled or broke off (${code}); the server or the network between stopped sending`, { cause: err });
}
