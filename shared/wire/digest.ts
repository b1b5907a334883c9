import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { LarderError } from '../errors.ts';

// Stored content is addressed by SHA-256 only; fast non-cryptographic hashes are for keys.
export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

export function isDigest(value: string): boolean {
  return DIGEST_PATTERN.test(value);
}

export function checkDigest(value: string): string {
  if (!isDigest(value)) {
    throw new LarderError('LARDER_INVALID_DIGEST', `digest ${JSON.stringify(value.slice(0, 80))} must be sha256:<64 lowercase hex>`);
  }
  return value;
}

export function digestHex(digest: string): string {
  return checkDigest(digest).slice('sha256:'.length);
}

/** The digest of `data`, or of its pieces in a row. */
export function sha256Digest(data: Uint8Array | readonly Uint8Array[]): string {
  const hash = createHash('sha256');
  for (const piece of Array.isArray(data) ? data : [data]) hash.update(piece);
  return finishDigest(hash);
}

export function finishDigest(hash: Hash): string {
  return 'sha256:' + hash.digest('hex');
}

/**
 * A pass-through that hashes and counts the bytes flowing by and, when the stream
 * ends, fails it unless they match the expected digest and size. Failing in flush
 * means a consumer piping from it (a store writing a temp file) sees the error
 * before it commits anything.
 */
export class VerifyingStream extends Transform {
  readonly #hash = createHash('sha256');
  readonly #expectedDigest: string;
  readonly #expectedSize: number | undefined;
  readonly #mismatchCode: 'LARDER_DIGEST_MISMATCH' | 'LARDER_INTEGRITY';
  bytes = 0;

  constructor(expectedDigest: string, expectedSize?: number, mismatchCode: 'LARDER_DIGEST_MISMATCH' | 'LARDER_INTEGRITY' = 'LARDER_DIGEST_MISMATCH') {
    super();
    this.#expectedDigest = expectedDigest;
    this.#expectedSize = expectedSize;
    this.#mismatchCode = mismatchCode;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.#expectedSize !== undefined && this.bytes > this.#expectedSize) {
      callback(new LarderError('LARDER_INCOMPLETE_BODY', `body is longer than the declared ${this.#expectedSize} bytes`));
      return;
    }
    this.#hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    if (this.#expectedSize !== undefined && this.bytes !== this.#expectedSize) {
      callback(new LarderError('LARDER_INCOMPLETE_BODY', `body ended after ${this.bytes} of ${this.#expectedSize} bytes`));
      return;
    }
    const actual = finishDigest(this.#hash);
    if (actual !== this.#expectedDigest) {
      callback(new LarderError(this.#mismatchCode, `content hashes to ${actual}, not ${this.#expectedDigest}`));
      return;
    }
    callback();
  }
}
