import { randomBytes } from 'node:crypto';
import { type FileHandle, link, mkdir, open, readdir, readFile, rename, rm, stat, statfs, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { mapLimit } from '../../shared/concurrency.ts';
import { digestHex } from '../../shared/wire/digest.ts';
import { fromSystemError, LarderError } from '../../shared/errors.ts';
import { freeChunks } from '../../shared/own-memory.ts';
import { hasDisposableChunks } from './disposable-chunks.ts';
import { EntryIndex } from './fs-entry-index.ts';
import { FileBody } from '../../shared/file-body.ts';
import { FsMeta } from './fs-meta.ts';
import { type BlobInfo, type ByteRange, clientGone, type EntryInfo, type MetaCondition, type MetaObject, missingOf, type PutOutcome, type StagedBlob, stagedBlob, type Store } from './store.ts';
import { NAMESPACE_PATTERN } from '../../shared/wire/names.ts';

// The embedded default: blobs and manifests as files. Every write goes to a temp file
// on the same file system, then is renamed (blobs) or hard-linked (manifests, whose
// link() fails if the name exists: an atomic first-writer-wins create). Manifests and
// bookkeeping are fsynced first; blobs are not: every read of a whole blob is checked
// against its digest (larder's client checks each part; the protocol adapters check
// what they serve), so a blob a crash tore is a corrupt blob, found and removed like
// any other, and a lost one a miss. The fsync cost 9 % of an upload's time (a cache may
// lose an entry; it must never serve a wrong one).

const STAT_CONCURRENCY = 64;
const BLOB_NAME = /^[0-9a-f]{64}$/;
const WRITE_BATCH_BYTES = 1024 * 1024;
/** Below this much free space the store is not ready: one ordinary part would not fit. */
const MIN_FREE_BYTES = 16 * 1024 * 1024;

export class FsStore implements Store {
  readonly description: string;
  readonly #root: string;
  readonly #tmp: string;
  readonly #indexes = new Map<string, EntryIndex>();
  readonly #meta: FsMeta;

  constructor(root: string) {
    this.#root = root;
    this.#tmp = join(root, 'tmp');
    this.#meta = new FsMeta(root, this.#tmp);
    this.description = `disk store in ${root}`;
  }

  async init(): Promise<this> {
    await makeFolder(this.#tmp);
    // Temp files left by a crash are never referenced: start clean.
    for (const name of await readdir(this.#tmp)) await rm(join(this.#tmp, name), { force: true, recursive: true });
    return this;
  }

  async check(): Promise<void> {
    await fsCall(() => stat(this.#tmp));
    // A full disk takes no upload: not ready, and say why.
    const { bavail, bsize } = await fsCall(() => statfs(this.#tmp));
    if (bavail * bsize < MIN_FREE_BYTES) throw new LarderError('LARDER_STORE_FULL', `the disk store is full (${bavail * bsize} bytes free); free space on its disk`);
  }

  async statBlob(ns: string, digest: string): Promise<number | undefined> {
    const info = await fsCall(() => stat(this.#blobFile(ns, digest)), undefined);
    return info?.size;
  }

  async missingBlobs(ns: string, digests: readonly string[], sizes?: readonly number[]): Promise<string[]> {
    const stored = await mapLimit(digests, STAT_CONCURRENCY, (d) => this.statBlob(ns, d));
    return missingOf(digests, stored, sizes);
  }

  async putBlob(ns: string, digest: string, body: Readable, size: number, options: { replace?: boolean } = {}): Promise<PutOutcome> {
    // Reading starts at once (before any await), so a body that fails early fails here.
    const staged = await this.stageBlob(ns, body);
    // A blob of the right size stays; one of another size is torn, and the verified upload replaces it.
    if (staged.size !== size) {
      await staged.discard();
      throw new LarderError('LARDER_INCOMPLETE_BODY', `body ended after ${staged.size} of ${size} bytes`);
    }
    return staged.commit(digest, options);
  }

  async stageBlob(ns: string, body: Readable): Promise<StagedBlob> {
    // The bytes the writer counted: no stat of the file it just wrote.
    const { tmp, size } = await this.#writeTemp(body);
    return stagedBlob(size, {
      storedSize: (digest) => this.statBlob(ns, digest),
      place: async (digest) => {
        const final = this.#blobFile(ns, digest);
        await fsCall(() => mkdir(join(final, '..'), { recursive: true }));
        await fsCall(() => rename(tmp, final));
      },
      discard: () => rm(tmp, { force: true }),
    });
  }

  async deleteBlob(ns: string, digest: string, options: { unlessWrittenAfter?: Date } = {}): Promise<boolean> {
    const file = this.#blobFile(ns, digest);
    if (options.unlessWrittenAfter) {
      const info = await fsCall(() => stat(file), undefined);
      if (!info || info.mtime > options.unlessWrittenAfter) return false;
    }
    return (await fsCall(() => unlink(file).then(() => true), false)) ?? false;
  }

  async getBlob(ns: string, digest: string, range?: ByteRange): Promise<Readable | undefined> {
    const file = this.#blobFile(ns, digest);
    const handle = await fsCall(() => open(file, 'r'), undefined);
    if (!handle) return undefined;
    // The body owns the handle and closes it when it ends or is destroyed.
    return range ? new FileBody(handle, range.start, range.end + 1) : new FileBody(handle);
  }

  async getEntry(ns: string, key: string): Promise<Buffer | undefined> {
    return fsCall(() => readFile(this.#entryFile(ns, key)), undefined);
  }

  async putEntry(ns: string, key: string, manifest: Buffer): Promise<PutOutcome> {
    const final = this.#entryFile(ns, key);
    await fsCall(() => mkdir(join(final, '..'), { recursive: true }));
    const { tmp } = await this.#writeTemp(manifest);
    try {
      await link(tmp, final);
      this.#index(ns).changed(key);
      return 'created';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return 'exists';
      throw storeFailure(err);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async deleteEntry(ns: string, key: string): Promise<boolean> {
    const deleted = (await fsCall(() => unlink(this.#entryFile(ns, key)).then(() => true), false)) ?? false;
    this.#index(ns).changed(key);
    return deleted;
  }

  async listEntries(ns: string, prefix: string, limit: number): Promise<EntryInfo[]> {
    return this.#index(ns).list(prefix, limit);
  }

  async allEntries(ns: string): Promise<EntryInfo[]> {
    // The index reads the folder again whenever it changed: it is the folder as it is.
    return this.#index(ns).list('', Number.MAX_SAFE_INTEGER);
  }

  async listNamespaces(): Promise<string[]> {
    const names = (await fsCall(() => readdir(join(this.#root, 'v1', 'ns')), [])) ?? [];
    return names.filter((n) => NAMESPACE_PATTERN.test(n)).sort();
  }

  async *listBlobs(ns: string): AsyncIterable<BlobInfo> {
    const top = join(this.#nsDir(ns), 'blobs', 'sha256');
    for (const shard of (await fsCall(() => readdir(top), [])) ?? []) {
      const names = (await fsCall(() => readdir(join(top, shard)), [])) ?? [];
      const stats = await mapLimit(names, STAT_CONCURRENCY, (name) => fsCall(() => stat(join(top, shard, name)), undefined));
      for (const [i, name] of names.entries()) {
        const info = stats[i];
        if (info && BLOB_NAME.test(name)) yield { digest: `sha256:${name}`, size: info.size, modifiedAt: info.mtime };
      }
    }
  }

  async getMeta(name: string): Promise<MetaObject | undefined> {
    return fsCall(() => this.#meta.get(name));
  }

  async putMeta(name: string, body: Buffer, condition?: MetaCondition): Promise<{ etag: string } | 'conflict'> {
    return fsCall(() => this.#meta.put(name, body, condition));
  }

  async listMeta(prefix: string): Promise<string[]> {
    return fsCall(() => this.#meta.list(prefix));
  }

  async deleteMeta(name: string): Promise<void> {
    await fsCall(() => this.#meta.delete(name));
  }

  #index(ns: string): EntryIndex {
    let index = this.#indexes.get(ns);
    if (!index) {
      index = new EntryIndex(join(this.#nsDir(ns), 'entries'));
      this.#indexes.set(ns, index);
    }
    return index;
  }

  async close(): Promise<void> {}

  #nsDir(ns: string): string {
    return join(this.#root, 'v1', 'ns', ns);
  }

  #blobFile(ns: string, digest: string): string {
    const hex = digestHex(digest);
    return join(this.#nsDir(ns), 'blobs', 'sha256', hex.slice(0, 2), hex);
  }

  #entryFile(ns: string, key: string): string {
    return join(this.#nsDir(ns), 'entries', `${key}.json`);
  }

  /** Writes data to a fresh temp file (a manifest fsynced, a blob not) and says how many bytes; removes the file if anything fails. */
  async #writeTemp(data: Readable | Buffer): Promise<{ tmp: string; size: number }> {
    const tmp = join(this.#tmp, randomBytes(12).toString('hex'));
    try {
      if (!Buffer.isBuffer(data)) return { tmp, size: await writeStreamBatched(tmp, data) };
      // flush: fsynced before it closes, so a link never publishes an unsynced manifest
      await writeFile(tmp, data, { flag: 'wx', mode: 0o644, flush: true });
      return { tmp, size: data.length };
    } catch (err) {
      await rm(tmp, { force: true });
      if (err instanceof LarderError) throw err;
      // The body broke off (the client went away): not the store's failure.
      if (!Buffer.isBuffer(data) && data.errored === err) throw clientGone(err);
      throw storeFailure(err);
    }
  }
}

/**
 * Writes a stream to a new file in writes of ~1 MiB. Socket chunks are 64 KiB, and
 * writing them one by one costs the server twice the CPU. The chunks are taken as 'data'
 * events, the stream paused while a batch is written: an async iterator's promise per
 * chunk cost ~25 % more of the server's CPU per GB received (measured with alternating
 * runs of 4 MiB uploads). An upload's chunks are freed once written (disposable-chunks.ts).
 */
async function writeStreamBatched(path: string, body: Readable): Promise<number> {
  const disposable = hasDisposableChunks(body);
  const file = await open(path, 'wx', 0o644);
  let total = 0;
  try {
    await new Promise<void>((resolve, reject) => {
      let batch: Buffer[] = [];
      let bytes = 0;
      let writing: Promise<void> = Promise.resolve();
      const flush = (): Promise<void> => {
        const chunks = batch;
        const size = bytes;
        batch = [];
        bytes = 0;
        return writeAll(file, chunks, size).then(() => {
          if (disposable) freeChunks(chunks);
        });
      };
      const fail = (err: unknown): void => {
        body.off('data', onData);
        if (!body.errored) body.destroy(); // the write failed: read no more of it
        reject(err);
      };
      const onData = (chunk: Buffer): void => {
        batch.push(chunk);
        bytes += chunk.length;
        total += chunk.length;
        if (bytes < WRITE_BATCH_BYTES) return;
        body.pause();
        writing = flush().then(() => void body.resume(), fail);
      };
      body.on('data', onData);
      body.once('error', fail);
      body.once('end', () => {
        writing.then(flush).then(resolve, reject);
      });
      // It may have failed while the file was being opened: its error is not emitted again.
      if (body.errored) fail(body.errored);
      else if (body.destroyed) fail(new Error('the body was closed before it ended'));
    });
  } finally {
    await file.close();
  }
  return total;
}

/** writev, and plain writes for whatever a short writev left. */
async function writeAll(file: FileHandle, chunks: Buffer[], bytes: number): Promise<void> {
  if (bytes === 0) return;
  const { bytesWritten } = await file.writev(chunks);
  if (bytesWritten === bytes) return;
  let rest = Buffer.concat(chunks).subarray(bytesWritten);
  while (rest.length > 0) rest = rest.subarray((await file.write(rest)).bytesWritten);
}

/**
 * mkdir -p that tells why it failed: Node's recursive mkdir answers ENOENT on a read-only
 * file system, so on failure the first missing folder is made alone to get the real
 * reason (EROFS, EACCES), which start-up reports in one line.
 */
async function makeFolder(path: string): Promise<void> {
  try {
    await mkdir(path, { recursive: true });
  } catch (err) {
    let missing = path;
    while ((await stat(dirname(missing)).catch(() => undefined)) === undefined && dirname(missing) !== missing) missing = dirname(missing);
    await mkdir(missing).catch((real: unknown) => Promise.reject(fromSystemError(real) ?? real));
    throw fromSystemError(err) ?? err;
  }
}

/** Runs a file system call; ENOENT becomes `absent` when one is given, anything else a store failure. */
async function fsCall<T, A = never>(call: () => Promise<T>, ...absent: [A] | []): Promise<T | A> {
  try {
    return await call();
  } catch (err) {
    if (absent.length === 1 && (err as NodeJS.ErrnoException).code === 'ENOENT') return absent[0] as A;
    throw storeFailure(err);
  }
}

function storeFailure(err: unknown): LarderError {
  if (err instanceof LarderError) return err;
  const code = (err as NodeJS.ErrnoException).code ?? 'unknown';
  if (code === 'ENOSPC' || code === 'EDQUOT') return new LarderError('LARDER_STORE_FULL', `the disk store is full (${code}); free space on its disk`, { cause: err });
  return new LarderError('LARDER_STORE_UNAVAILABLE', `disk store failed (${code})`, { cause: err });
}
