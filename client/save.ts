import { existsSync } from 'node:fs';
import { LarderError } from '../shared/errors.ts';
import { type Manifest, MANIFEST_VERSION, type PartRef, type PathRecord } from '../shared/manifest.ts';
import { compressedPartStream } from './pack.ts';
import { planParts, tarBytesOf } from './parts.ts';
import { resolveUserPath } from './paths.ts';
import { type Report, secondsSince } from './report.ts';
import type { CacheClient } from './transfer.ts';
import { type TreeEntry, walkTree } from './tree.ts';
import { LARDER_VERSION } from './version.ts';
import type { PartWorkers } from './worker-pool.ts';

// save: walk each path → parts, biggest first → tar + zstd + sha256 in worker threads
// → ask whether the blob is missing → upload it → publish the manifest last.
// At most 2 × concurrency parts are in flight, so memory stays bounded. A failure
// anywhere publishes nothing, so no reader ever sees half an entry.

export interface SaveInput {
  key: string;
  inputs: { [placeholder: string]: string };
  paths: string[];
  cwd: string;
  home: string;
  concurrency: number;
  level: number;
  /** compressed parts of the streaming path up to this size are kept in memory for upload */
  bufferLimit?: number;
  /** how long the command that built the paths took (larder run), recorded for "time saved" */
  buildSeconds?: number;
  log: (line: string) => void;
  progress?: (done: number, total: number, bytes: number) => void;
}

// Only parts over the in-memory limit (one big file) meet this; their compressed bytes
// are kept up to here, and a bigger one is compressed again as it uploads.
const DEFAULT_BUFFER_LIMIT = 64 * 1024 * 1024;

export async function save(client: CacheClient, workers: PartWorkers, input: SaveInput): Promise<Report> {
  const started = performance.now();
  const phases: Report['phases'] = {};
  const report: Report = { command: 'save', outcome: 'saved', key: input.key, paths: [], files: 0, fileBytes: 0, parts: 0, transferredBytes: 0, partsReused: 0, seconds: 0, phases };
  const done = (): Report => ({ ...report, seconds: secondsSince(started) });

  workers.warm();
  if (await client.hasEntry(input.key)) return { ...done(), outcome: 'exists' };

  const present = input.paths.filter((p) => {
    const exists = existsSync(resolveUserPath(p, input.cwd, input.home));
    if (!exists) input.log(`larder save: ${p} does not exist; not saved`);
    return exists;
  });
  if (present.length === 0) {
    const error = new LarderError('LARDER_PATH_NOT_FOUND', `none of ${input.paths.join(', ')} exists`);
    return { ...done(), outcome: 'skipped', error: error.toJSON() };
  }

  const mark = performance.now();
  const uploadPart = async (root: string, entries: TreeEntry[]): Promise<PartRef> => {
    const part = await workers.pack({ root, entries, level: input.level, bufferLimit: input.bufferLimit ?? DEFAULT_BUFFER_LIMIT });
    const [missing] = await client.missing([part.ref.digest]);
    if (!missing) {
      report.partsReused = (report.partsReused ?? 0) + 1;
      return part.ref;
    }
    const buffered = part.bytes;
    // A streaming part too big to keep is packed again, here, as it uploads.
    await client.putBlob(part.ref.digest, part.ref.size, buffered ? () => buffered : () => compressedPartStream(root, entries, input.level));
    report.transferredBytes += part.ref.size;
    return part.ref;
  };

  // The whole walk first (it is quick), then the biggest parts first: a part holding one
  // big file takes longest, and must not be the one left running alone at the end.
  const trees = present.map((path) => {
    const root = resolveUserPath(path, input.cwd, input.home);
    const tree = walkTree(root);
    for (const name of tree.skipped) input.log(`larder save: ${path}/${name} is a socket, FIFO or device; not saved`);
    const files = tree.entries.filter((e) => e.type === 'file' || e.type === 'hardlink').length;
    return { path, root, parts: planParts(tree.entries), files, fileBytes: tree.entries.reduce((sum, e) => sum + e.size, 0) };
  });
  phases.walk = secondsSince(mark);
  const tasks = trees.flatMap((tree, t) => tree.parts.map((entries, p) => ({ t, p, root: tree.root, entries, bytes: entries.reduce((sum, e) => sum + tarBytesOf(e), 0) })));
  const refs = trees.map((tree) => new Array<PartRef>(tree.parts.length));
  const inFlight = new InFlight(input.concurrency * 2);
  const pending: Promise<void>[] = [];
  let finished = 0;
  for (const task of tasks.sort((a, b) => b.bytes - a.bytes)) {
    await inFlight.slot();
    pending.push(
      inFlight.track(
        uploadPart(task.root, task.entries).then((ref) => {
          (refs[task.t] as PartRef[])[task.p] = ref;
          input.progress?.(++finished, tasks.length, report.transferredBytes);
        }),
      ),
    );
  }
  await Promise.all(pending);
  const paths: PathRecord[] = trees.map((tree, t) => ({ path: tree.path, files: tree.files, fileBytes: tree.fileBytes, parts: refs[t] as PartRef[] }));
  phases.packAndUpload = secondsSince(mark);

  const manifest: Manifest = {
    version: MANIFEST_VERSION,
    key: input.key,
    createdAt: new Date().toISOString(),
    codec: 'zstd',
    paths,
    inputs: input.inputs,
    client: { version: LARDER_VERSION, os: process.platform, arch: process.arch, ...(input.buildSeconds === undefined ? {} : { buildSeconds: Math.round(input.buildSeconds * 100) / 100 }) },
  };
  const publishMark = performance.now();
  const published = await client.putEntry(manifest);
  phases.publish = secondsSince(publishMark);
  Object.assign(report, {
    outcome: published === 'created' ? 'saved' : 'exists',
    paths: present,
    files: paths.reduce((sum, p) => sum + p.files, 0),
    fileBytes: paths.reduce((sum, p) => sum + p.fileBytes, 0),
    parts: paths.reduce((sum, p) => sum + p.parts.length, 0),
  });
  return done();
}

/** Bounds the parts in flight; the first failure stops new ones from starting. */
class InFlight {
  readonly #limit: number;
  #running = 0;
  #waiters: Array<() => void> = [];
  #failure: unknown;

  constructor(limit: number) {
    this.#limit = limit;
  }

  async slot(): Promise<void> {
    while (this.#running >= this.#limit && this.#failure === undefined) await new Promise<void>((resolve) => this.#waiters.push(resolve));
    if (this.#failure !== undefined) throw this.#failure;
    this.#running++;
  }

  track<T>(work: Promise<T>): Promise<T> {
    const release = (): void => {
      this.#running--;
      this.#waiters.shift()?.();
    };
    work.then(release, (err: unknown) => {
      this.#failure ??= err;
      release();
      for (const wake of this.#waiters.splice(0)) wake();
    });
    return work;
  }
}
