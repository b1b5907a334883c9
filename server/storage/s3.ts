import {
  AbortMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { Readable } from 'node:stream';
import { mapLimit } from '../../shared/concurrency.ts';
import { digestHex } from '../../shared/digest.ts';
import { LarderError } from '../../shared/errors.ts';
import { type ByteRange, clientGone, type EntryInfo, missingOf, newestFirst, type PutOutcome, type Store } from './store.ts';

// The distributed store: any number of stateless servers on one bucket. Blobs stream
// through lib-storage's Upload (multipart with a bounded part size and queue; a body
// that fails verification or is cut off aborts the upload and leaves no object).
// Manifests use a conditional put (If-None-Match: *), so the first writer wins across
// servers. A missing object is a miss; anything else (throttling, 5xx, network, and
// 403: see missingOr) is an error, never a miss.

export interface S3StoreOptions {
  bucket: string;
  /** key prefix inside the bucket, '' or ending in '/' */
  prefix: string;
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  /** multipart part size for blob uploads */
  partSize?: number;
  /** parts in flight per upload */
  queueSize?: number;
  /** keys per listing page (S3's maximum is 1000) */
  pageSize?: number;
  /** sweep() aborts multipart uploads under the prefix older than this (default 24 h) */
  abortUploadsAfterMs?: number;
  maxAttempts?: number;
}

const HEAD_CONCURRENCY = 16;

export class S3Store implements Store {
  readonly description: string;
  readonly #s3: S3Client;
  readonly #options: S3StoreOptions;

  constructor(options: S3StoreOptions) {
    this.#options = options;
    this.description = `S3 store in s3://${options.bucket}/${options.prefix}${options.endpoint ? ` at ${options.endpoint}` : ''}`;
    this.#s3 = new S3Client({
      region: options.region,
      endpoint: options.endpoint,
      forcePathStyle: options.forcePathStyle,
      // Streamed bodies with S3-compatible stores: flexible checksums would need the
      // whole body or trailers many stores mishandle (FACTS.md). Digests are ours anyway.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: options.maxAttempts ?? 3,
      requestHandler: { connectionTimeout: 5_000, requestTimeout: 120_000 },
    });
  }

  async check(): Promise<void> {
    // A one-key listing of our own prefix, not HeadBucket: it works under a policy
    // that grants s3:ListBucket only for that prefix.
    await this.#send(() => this.#s3.send(new ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: this.#options.prefix, MaxKeys: 1 })));
  }

  async statBlob(ns: string, digest: string): Promise<number | undefined> {
    const head = await this.#head(this.#blobKey(ns, digest));
    return head?.size;
  }

  async missingBlobs(ns: string, digests: readonly string[], sizes?: readonly number[]): Promise<string[]> {
    const stored = await mapLimit(digests, HEAD_CONCURRENCY, (d) => this.statBlob(ns, d));
    return missingOf(digests, stored, sizes);
  }

  async putBlob(ns: string, digest: string, body: Readable, size: number): Promise<PutOutcome> {
    const key = this.#blobKey(ns, digest);
    // A blob of the right size stays; one of another size is torn, and the verified upload replaces it.
    if ((await this.#head(key))?.size === size) {
      body.resume();
      return 'exists';
    }
    const upload = new Upload({
      client: this.#s3,
      params: { Bucket: this.#options.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
      partSize: this.#options.partSize ?? 8 * 1024 * 1024,
      queueSize: this.#options.queueSize ?? 2,
      leavePartsOnError: false,
    });
    // A failed body (digest mismatch, client gone) fails the Upload's own reader, and
    // done() rejects only after the SDK has sent AbortMultipartUpload. (Upload.abort()
    // would make done() reject at once and leave that abort racing in the background.)
    try {
      await upload.done();
    } catch (err) {
      if (err instanceof LarderError) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof LarderError) throw cause;
      if (body.errored instanceof LarderError) throw body.errored;
      if (body.errored && (body.errored === err || body.errored === cause)) throw clientGone(err); // the client went away: not the store's failure
      throw storeFailure(err);
    }
    return 'created';
  }

  async getBlob(ns: string, digest: string, range?: ByteRange): Promise<Readable | undefined> {
    const res = await this.#send(
      () => this.#s3.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#blobKey(ns, digest), Range: range ? `bytes=${range.start}-${range.end}` : undefined })),
      true,
    );
    return res?.Body as Readable | undefined;
  }

  async getEntry(ns: string, key: string): Promise<Buffer | undefined> {
    const res = await this.#send(() => this.#s3.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#entryKey(ns, key) })), true);
    if (!res?.Body) return undefined;
    return Buffer.from(await res.Body.transformToByteArray());
  }

  async putEntry(ns: string, key: string, manifest: Buffer): Promise<PutOutcome> {
    try {
      await this.#s3.send(
        new PutObjectCommand({ Bucket: this.#options.bucket, Key: this.#entryKey(ns, key), Body: manifest, ContentType: 'application/json', IfNoneMatch: '*' }),
      );
      return 'created';
    } catch (err) {
      const status = statusOf(err);
      // 412: the key exists. 409: a concurrent conditional write of the same key is in flight.
      if (status === 412 || status === 409) return 'exists';
      throw storeFailure(err);
    }
  }

  async deleteBlob(ns: string, digest: string): Promise<boolean> {
    const objectKey = this.#blobKey(ns, digest);
    if ((await this.#head(objectKey)) === undefined) return false;
    await this.#send(() => this.#s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: objectKey })));
    return true;
  }

  async deleteEntry(ns: string, key: string): Promise<boolean> {
    const objectKey = this.#entryKey(ns, key);
    if ((await this.#head(objectKey)) === undefined) return false;
    await this.#send(() => this.#s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: objectKey })));
    return true;
  }

  async listEntries(ns: string, prefix: string, limit: number): Promise<EntryInfo[]> {
    const base = `${this.#nsPrefix(ns)}entries/`;
    const found: EntryInfo[] = [];
    // Newest first needs every match: S3 lists in key order, not by time.
    for await (const object of this.#list(base + prefix)) {
      if (!object.Key?.endsWith('.json')) continue;
      found.push({ key: object.Key.slice(base.length, -'.json'.length), createdAt: object.LastModified ?? new Date(0), size: object.Size ?? 0 });
    }
    return found.sort(newestFirst).slice(0, limit);
  }

  /** Removes every object of a namespace, a thousand per request (batch delete). */
  async purgeNamespace(ns: string): Promise<number> {
    let removed = 0;
    let batch: string[] = [];
    const flush = async (): Promise<void> => {
      if (batch.length === 0) return;
      const keys = batch;
      batch = [];
      await this.#send(() => this.#s3.send(new DeleteObjectsCommand({ Bucket: this.#options.bucket, Delete: { Objects: keys.map((Key) => ({ Key })), Quiet: true } })));
      removed += keys.length;
    };
    for await (const object of this.#list(this.#nsPrefix(ns))) {
      if (object.Key) batch.push(object.Key);
      if (batch.length === 1000) await flush();
    }
    await flush();
    return removed;
  }

  /**
   * Aborts multipart uploads under our prefix that are older than abortUploadsAfterMs:
   * a server that crashed (or lost the gateway) mid-upload leaves its upload pending,
   * and its parts cost storage forever. Safe with any number of servers doing the same:
   * an abort is idempotent, and no live upload is that old.
   */
  async sweep(): Promise<string | undefined> {
    const cutoff = Date.now() - (this.#options.abortUploadsAfterMs ?? 86_400_000);
    let aborted = 0;
    let keyMarker: string | undefined;
    let uploadIdMarker: string | undefined;
    do {
      const page = await this.#send(() => this.#s3.send(new ListMultipartUploadsCommand({ Bucket: this.#options.bucket, Prefix: this.#options.prefix, KeyMarker: keyMarker, UploadIdMarker: uploadIdMarker })));
      for (const upload of page.Uploads ?? []) {
        if (!upload.Key || !upload.UploadId || (upload.Initiated?.getTime() ?? 0) > cutoff) continue;
        await this.#send(() => this.#s3.send(new AbortMultipartUploadCommand({ Bucket: this.#options.bucket, Key: upload.Key, UploadId: upload.UploadId })), true);
        aborted++;
      }
      [keyMarker, uploadIdMarker] = page.IsTruncated ? [page.NextKeyMarker, page.NextUploadIdMarker] : [undefined, undefined];
    } while (keyMarker !== undefined);
    return aborted > 0 ? `aborted ${aborted} multipart upload(s) left unfinished` : undefined;
  }

  async close(): Promise<void> {
    this.#s3.destroy();
  }

  async *#list(prefix: string): AsyncGenerator<{ Key?: string; LastModified?: Date; Size?: number }> {
    let token: string | undefined;
    do {
      const page = await this.#send(() =>
        this.#s3.send(new ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: prefix, ContinuationToken: token, MaxKeys: this.#options.pageSize ?? 1000 })),
      );
      yield* page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #head(key: string): Promise<{ size: number } | undefined> {
    const res = await this.#send(() => this.#s3.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key: key })), true);
    return res ? { size: res.ContentLength ?? 0 } : undefined;
  }

  /** Runs an S3 call; with missingIsUndefined, a 404 is a miss. Everything else that fails is an error. */
  async #send<T>(call: () => Promise<T>, missingIsUndefined: true): Promise<T | undefined>;
  async #send<T>(call: () => Promise<T>): Promise<T>;
  async #send<T>(call: () => Promise<T>, missingIsUndefined = false): Promise<T | undefined> {
    try {
      return await call();
    } catch (err) {
      if (missingIsUndefined && statusOf(err) === 404) return undefined;
      throw storeFailure(err);
    }
  }

  #nsPrefix(ns: string): string {
    return `${this.#options.prefix}v1/ns/${ns}/`;
  }

  #blobKey(ns: string, digest: string): string {
    const hex = digestHex(digest);
    return `${this.#nsPrefix(ns)}blobs/sha256/${hex.slice(0, 2)}/${hex}`;
  }

  #entryKey(ns: string, key: string): string {
    return `${this.#nsPrefix(ns)}entries/${key}.json`;
  }
}

function statusOf(err: unknown): number | undefined {
  return err instanceof S3ServiceException ? err.$metadata.httpStatusCode : (err as { $metadata?: { httpStatusCode?: number } })?.$metadata?.httpStatusCode;
}

/**
 * Any S3 failure that is not a plain miss. A 403 is never read as a miss: S3 answers
 * 403 instead of 404 for a missing key when the role lacks s3:ListBucket, and calling
 * that a miss would hide a real permission fault; the message says what to grant.
 */
function storeFailure(err: unknown): LarderError {
  if (err instanceof LarderError) return err;
  const status = statusOf(err);
  const name = (err as { name?: string }).name ?? 'Error';
  if (status === 403) {
    return new LarderError('LARDER_STORE_UNAVAILABLE', `S3 denied access (${name}); the server's role needs s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on the bucket (without ListBucket, S3 answers 403 for missing objects)`, { cause: err });
  }
  const what = status ? `S3 answered ${status} ${name}` : `S3 unreachable (${(err as NodeJS.ErrnoException).code ?? name})`;
  return new LarderError('LARDER_STORE_UNAVAILABLE', what, { cause: err });
}
