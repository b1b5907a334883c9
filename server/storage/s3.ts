import {
  AbortMultipartUploadCommand,
  CopyObjectCommand,
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
import { randomUUID } from 'node:crypto';
import { PassThrough, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mapLimit } from '../../shared/concurrency.ts';
import { digestHex } from '../../shared/wire/digest.ts';
import { LarderError } from '../../shared/errors.ts';
import { JOURNAL_KEEP_MS, journalName, journalTime, type ListedObject, S3EntryIndex } from './s3-entry-index.ts';
import { type BlobInfo, type ByteRange, clientGone, type EntryInfo, META_NAME, type MetaCondition, type MetaObject, missingOf, type PutOutcome, type StagedBlob, stagedBlob, type Store } from './store.ts';
import { NAMESPACE_PATTERN } from '../../shared/wire/names.ts';

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
  /** how far back a lookup's journal read starts (default a minute; see S3EntryIndex) */
  journalSkewMs?: number;
  /** sweep() aborts multipart uploads under the prefix older than this (default 24 h) */
  abortUploadsAfterMs?: number;
  maxAttempts?: number;
}

const HEAD_CONCURRENCY = 16;

/** CopyObject copies up to 5 GiB in one request. */
const MAX_COPY_BYTES = 5 * 1024 ** 3;

export class S3Store implements Store {
  readonly description: string;
  readonly #s3: S3Client;
  readonly #options: S3StoreOptions;
  readonly #indexes = new Map<string, S3EntryIndex>();
  /** requests sent, by command (retries not counted): what the store costs, for metrics and tests */
  readonly requests = new Map<string, number>();

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
    this.#s3.middlewareStack.add(
      (next, context) => (args) => {
        this.requests.set(context.commandName ?? 'unknown', (this.requests.get(context.commandName ?? 'unknown') ?? 0) + 1);
        return next(args);
      },
      { step: 'initialize', name: 'larderRequestCount' },
    );
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

  async putBlob(ns: string, digest: string, body: Readable, size: number, options: { replace?: boolean } = {}): Promise<PutOutcome> {
    const key = this.#blobKey(ns, digest);
    // A blob of the right size stays; one of another size is torn, and the verified upload replaces it.
    if (!options.replace && (await this.#head(key))?.size === size) {
      body.resume();
      return 'exists';
    }
    await this.#upload(key, body);
    return 'created';
  }

  async stageBlob(ns: string, body: Readable): Promise<StagedBlob> {
    // Under v1/staging/, outside every namespace: no listing of blobs or entries sees it,
    // and the sweep removes what a crash left there.
    const key = `${this.#stagingPrefix()}${ns}/${randomUUID()}`;
    let size = 0;
    const counted = new PassThrough();
    body.on('data', (chunk: Buffer) => void (size += chunk.length));
    pipeline(body, counted).catch(() => {}); // a failure reaches the upload through counted
    await this.#upload(key, counted, body);
    return stagedBlob(size, {
      storedSize: async (digest) => (await this.#head(this.#blobKey(ns, digest)))?.size,
      place: async (digest) => {
        const final = this.#blobKey(ns, digest);
        if (size <= MAX_COPY_BYTES) {
          // A copy inside S3: the bytes do not pass through this server again.
          await this.#send(() => this.#s3.send(new CopyObjectCommand({ Bucket: this.#options.bucket, Key: final, CopySource: encodeURI(`${this.#options.bucket}/${key}`), ContentType: 'application/octet-stream', MetadataDirective: 'REPLACE' })));
        } else {
          const staged = await this.#send(() => this.#s3.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key: key })));
          await this.#upload(final, staged.Body as Readable);
        }
      },
      discard: async () => void (await this.#send(() => this.#s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: key })), true)),
    });
  }

  /** A streamed multipart upload; a failed body (digest mismatch, client gone) leaves nothing. */
  async #upload(key: string, body: Readable, source: Readable = body): Promise<void> {
    const upload = new Upload({
      client: this.#s3,
      params: { Bucket: this.#options.bucket, Key: key, Body: body, ContentType: 'application/octet-stream' },
      partSize: this.#options.partSize ?? 8 * 1024 * 1024,
      queueSize: this.#options.queueSize ?? 2,
      leavePartsOnError: false,
    });
    // A failed body fails the Upload's own reader, and done() rejects only after the SDK
    // has sent AbortMultipartUpload. (Upload.abort() would make done() reject at once and
    // leave that abort racing in the background.)
    try {
      await upload.done();
    } catch (err) {
      if (err instanceof LarderError) throw err;
      const cause = (err as { cause?: unknown }).cause;
      if (cause instanceof LarderError) throw cause;
      for (const stream of [body, source]) if (stream.errored instanceof LarderError) throw stream.errored;
      if (source.errored && (source.errored === err || source.errored === cause || (source !== body && body.errored))) throw clientGone(err); // the client went away: not the store's failure
      throw storeFailure(err);
    }
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
    if (!res?.Body) {
      this.#indexes.get(ns)?.removed(key); // evicted or deleted, perhaps by another server
      return undefined;
    }
    return Buffer.from(await res.Body.transformToByteArray());
  }

  async putEntry(ns: string, key: string, manifest: Buffer): Promise<PutOutcome> {
    try {
      await this.#s3.send(
        new PutObjectCommand({ Bucket: this.#options.bucket, Key: this.#entryKey(ns, key), Body: manifest, ContentType: 'application/json', IfNoneMatch: '*' }),
      );
    } catch (err) {
      const status = statusOf(err);
      // 412: the key exists. 409: a concurrent conditional write of the same key is in flight.
      if (status === 412 || status === 409) return 'exists';
      throw storeFailure(err);
    }
    const info = { key, createdAt: new Date(), size: manifest.length };
    this.#indexes.get(ns)?.added(info);
    // Other servers' lookups learn of it from the journal. Should this write fail, they
    // learn at their next full listing: the entry itself is published either way.
    await this.#s3
      .send(new PutObjectCommand({ Bucket: this.#options.bucket, Key: `${this.#nsPrefix(ns)}journal/${journalName(info.createdAt.getTime(), info.size, key)}`, Body: Buffer.alloc(0), ContentLength: 0 }))
      .catch(() => {});
    return 'created';
  }

  async deleteBlob(ns: string, digest: string, options: { unlessWrittenAfter?: Date } = {}): Promise<boolean> {
    const objectKey = this.#blobKey(ns, digest);
    const head = await this.#head(objectKey);
    if (head === undefined || (options.unlessWrittenAfter && head.modifiedAt > options.unlessWrittenAfter)) return false;
    await this.#send(() => this.#s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: objectKey })));
    return true;
  }

  async deleteEntry(ns: string, key: string): Promise<boolean> {
    const objectKey = this.#entryKey(ns, key);
    this.#indexes.get(ns)?.removed(key);
    if ((await this.#head(objectKey)) === undefined) return false;
    await this.#send(() => this.#s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: objectKey })));
    return true;
  }

  async listEntries(ns: string, prefix: string, limit: number): Promise<EntryInfo[]> {
    let index = this.#indexes.get(ns);
    if (!index) {
      index = new S3EntryIndex((p, after) => this.#list(p, after), `${this.#nsPrefix(ns)}entries/`, `${this.#nsPrefix(ns)}journal/`, { skewMs: this.#options.journalSkewMs });
      this.#indexes.set(ns, index);
    }
    return index.list(prefix, limit);
  }

  async allEntries(ns: string): Promise<EntryInfo[]> {
    const base = `${this.#nsPrefix(ns)}entries/`;
    const found: EntryInfo[] = [];
    for await (const object of this.#list(base)) {
      if (object.Key?.endsWith('.json')) found.push({ key: object.Key.slice(base.length, -'.json'.length), createdAt: object.LastModified ?? new Date(0), size: object.Size ?? 0 });
    }
    return found;
  }

  async listNamespaces(): Promise<string[]> {
    const base = `${this.#options.prefix}v1/ns/`;
    const names: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.#send(() => this.#s3.send(new ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: base, Delimiter: '/', ContinuationToken: token })));
      for (const common of page.CommonPrefixes ?? []) names.push((common.Prefix ?? '').slice(base.length, -1));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return names.filter((n) => NAMESPACE_PATTERN.test(n)).sort();
  }

  async *listBlobs(ns: string): AsyncIterable<BlobInfo> {
    const base = `${this.#nsPrefix(ns)}blobs/sha256/`;
    for await (const object of this.#list(base)) {
      const hex = object.Key?.slice(base.length + 3) ?? '';
      if (/^[0-9a-f]{64}$/.test(hex)) yield { digest: `sha256:${hex}`, size: object.Size ?? 0, modifiedAt: object.LastModified ?? new Date(0) };
    }
  }

  async getMeta(name: string): Promise<MetaObject | undefined> {
    const res = await this.#send(() => this.#s3.send(new GetObjectCommand({ Bucket: this.#options.bucket, Key: this.#metaKey(name) })), true);
    if (!res?.Body) return undefined;
    return { body: Buffer.from(await res.Body.transformToByteArray()), etag: res.ETag ?? '' };
  }

  async putMeta(name: string, body: Buffer, condition?: MetaCondition): Promise<{ etag: string } | 'conflict'> {
    const put = (ifMatch?: string) =>
      this.#s3.send(
        new PutObjectCommand({
          Bucket: this.#options.bucket,
          Key: this.#metaKey(name),
          Body: body,
          ContentType: 'application/json',
          ...(condition && 'ifAbsent' in condition ? { IfNoneMatch: '*' } : {}),
          ...(ifMatch === undefined ? {} : { IfMatch: ifMatch }),
        }),
      );
    const ifEtag = condition && 'ifEtag' in condition ? condition.ifEtag : undefined;
    try {
      return { etag: (await put(ifEtag)).ETag ?? '' };
    } catch (err) {
      const status = statusOf(err);
      if (status === 409) return 'conflict';
      if (status === 412 && ifEtag?.startsWith('"')) {
        // RADOS Gateway compares If-Match without the quotes S3 puts around an ETag; AWS
        // takes the quoted form. Unquoted, once: a real conflict fails again.
        try {
          return { etag: (await put(ifEtag.replaceAll('"', ''))).ETag ?? '' };
        } catch (again) {
          if (statusOf(again) === 412 || statusOf(again) === 409) return 'conflict';
          throw storeFailure(again);
        }
      }
      if (status === 412 || status === 404) return 'conflict';
      throw storeFailure(err);
    }
  }

  async listMeta(prefix: string): Promise<string[]> {
    const base = this.#metaPrefix();
    const names: string[] = [];
    for await (const object of this.#list(base + prefix)) if (object.Key) names.push(object.Key.slice(base.length));
    return names.sort();
  }

  async deleteMeta(name: string): Promise<void> {
    await this.#send(() => this.#s3.send(new DeleteObjectCommand({ Bucket: this.#options.bucket, Key: this.#metaKey(name) })), true);
  }

  /** Removes every object of a namespace, a thousand per request (batch delete). */
  async purgeNamespace(ns: string): Promise<number> {
    const keys: string[] = [];
    for await (const object of this.#list(this.#nsPrefix(ns))) if (object.Key) keys.push(object.Key);
    await this.#deleteKeys(keys);
    return keys.length;
  }

  async #deleteKeys(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      await this.#send(() => this.#s3.send(new DeleteObjectsCommand({ Bucket: this.#options.bucket, Delete: { Objects: batch.map((Key) => ({ Key })), Quiet: true } })));
    }
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
    const trimmed = await this.trimJournals(Date.now() - JOURNAL_KEEP_MS);
    const stale: string[] = [];
    for await (const object of this.#list(this.#stagingPrefix())) if (object.Key && (object.LastModified?.getTime() ?? 0) <= cutoff) stale.push(object.Key);
    await this.#deleteKeys(stale);
    const staged = stale.length;
    const did = [aborted > 0 ? `aborted ${aborted} multipart upload(s) left unfinished` : '', trimmed > 0 ? `removed ${trimmed} journal record(s) older than an hour` : '', staged > 0 ? `removed ${staged} staged upload(s) a crash left` : ''].filter(Boolean);
    return did.length > 0 ? did.join('; ') : undefined;
  }

  /** Removes journal records written before cutoff (every index has read those older than an hour: S3EntryIndex). */
  async trimJournals(cutoff: number): Promise<number> {
    let removed = 0;
    for (const ns of await this.listNamespaces()) {
      const base = `${this.#nsPrefix(ns)}journal/`;
      const old: string[] = [];
      for await (const object of this.#list(base)) {
        const at = journalTime(object.Key?.slice(base.length) ?? '');
        if (at === undefined || at >= cutoff) break; // in time order: the rest are newer
        old.push(object.Key as string);
      }
      await this.#deleteKeys(old);
      removed += old.length;
    }
    return removed;
  }

  async close(): Promise<void> {
    this.#s3.destroy();
  }

  async *#list(prefix: string, startAfter?: string): AsyncGenerator<ListedObject> {
    let token: string | undefined;
    do {
      const page = await this.#send(() =>
        this.#s3.send(new ListObjectsV2Command({ Bucket: this.#options.bucket, Prefix: prefix, StartAfter: token ? undefined : startAfter, ContinuationToken: token, MaxKeys: this.#options.pageSize ?? 1000 })),
      );
      yield* page.Contents ?? [];
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
  }

  async #head(key: string): Promise<{ size: number; modifiedAt: Date } | undefined> {
    const res = await this.#send(() => this.#s3.send(new HeadObjectCommand({ Bucket: this.#options.bucket, Key: key })), true);
    return res ? { size: res.ContentLength ?? 0, modifiedAt: res.LastModified ?? new Date(0) } : undefined;
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

  #metaKey(name: string): string {
    if (!META_NAME.test(name)) throw new LarderError('LARDER_INTERNAL', `bad bookkeeping object name ${name}`);
    return this.#metaPrefix() + name;
  }

  #stagingPrefix(): string {
    return `${this.#options.prefix}v1/staging/`;
  }

  #metaPrefix(): string {
    return `${this.#options.prefix}v1/meta/`;
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
