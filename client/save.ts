import { existsSync, rmSync } from 'node:fs';
import { isLarderError, LarderError } from '../shared/errors.ts';
import { type Manifest, MANIFEST_VERSION, type PartRef, type PathRecord } from '../shared/wire/manifest.ts';
import { rememberEntry } from './local/entry-cache.ts';
import { spillFolder } from './local/spill.ts';
import { BiggestFirst } from './biggest-first.ts';
import { MAX_PART_BYTES, streamParts, tarBytesOf } from './archive/parts.ts';
import { readFolderState, rememberFolder, unchangedSince } from './folders/folder-state.ts';
import { resolveUserPath } from './folders/paths.ts';
import { type Report, secondsSince } from './report.ts';
import type { CacheClient } from './transport/transfer.ts';
import type { SelfSending } from './transport/http.ts';
import { walkEntries } from './archive/tree.ts';
import { LARDER_VERSION } from '../shared/version.ts';
import { type EntryList, entriesOf, listEntries } from './workers/entry-list.ts';
import { type PartWorkers, SMALL_TREE_BYTES } from './workers/worker-pool.ts';

// save: walk each path → parts as they close → tar + zstd + sha256 in worker threads (on
// this thread for a small tree) → ask whether the blob is missing → upload it (a stored
// part: its files read again, archive/reread.ts) → publish the manifest last.
// At most 2 × concurrency parts, and IN_FLIGHT_BYTES of their tar, are in flight, so
// memory stays bounded. A failure anywhere publishes nothing, so no reader ever sees
// half an entry.

export interface SaveInput {
  key: string;
  /** where a base entry is looked for: parts it holds are recognised without compressing them */
  restoreKeys: string[];
  inputs: { [placeholder: string]: string };
  paths: string[];
  cwd: string;
  home: string;
  /** where what each folder holds is recorded (client/folders/folder-state.ts) */
  cacheDir: string;
  /** keep the manifest on this machine too (client/local/entry-cache.ts) */
  localCache?: { server: string; namespace: string };
  concurrency: number;
  level: number;
  /** how long the command that built the paths took (larder run), recorded for "time saved" */
  buildSeconds?: number;
  log: (line: string) => void;
  progress?: (done: number, total: number, bytes: number) => void;
}

/** How long the walk runs before it lets finished parts move on. */
const BREATH_MS = 4;

/**
 * The tar bytes of the parts in flight (being packed, or waiting for upload), beyond the
 * first: a compressed part holds memory of its own until the server has it, new memory at
 * first, and the biggest parts go first; memory not used before costs ~24 µs a page here
 * (bench/fresh-memory.ts). A stored part holds none once hashed (its upload reads its
 * files again: archive/reread.ts), nor does a part over MAX_PART_BYTES (one big file),
 * which streams to a file (archive/pack.ts). 16 MiB rather than 24: any part fits beside
 * the first, and m2's save went 1.87 → 1.77 s (CPU 2.29 → 2.10 s) in alternating runs,
 * with the .venv and npm-large unchanged. Over a link with latency, 16 MiB is still
 * several round trips' worth of parts.
 */
const IN_FLIGHT_BYTES = 16 * 1024 * 1024;

interface PartTask {
  /** which path, and which part of it */
  t: number;
  p: number;
  root: string;
  /** as one buffer, not objects: it may wait a while (client/workers/entry-list.ts) */
  entries: EntryList;
  bytes: number;
}

export async function save(client: CacheClient, workers: PartWorkers, input: SaveInput): Promise<Report> {
  const started = performance.now();
  const phases: Report['phases'] = {};
  const report: Report = { command: 'save', outcome: 'saved', key: input.key, paths: [], files: 0, fileBytes: 0, parts: 0, transferredBytes: 0, partsReused: 0, partsRecognised: 0, seconds: 0, phases };
  const done = (): Report => ({ ...report, seconds: secondsSince(started) });

  const { exact, base } = await baseEntry(client, input);
  if (exact) {
    // Saved already; but a part found corrupt (and removed) or lost leaves the entry
    // broken until a save of the same tree uploads that part again: this one does.
    const parts = exact.paths.flatMap((p) => p.parts);
    const gone = await client.missing(parts.map((p) => p.digest), parts.map((p) => p.size));
    if (gone.length === 0) return { ...done(), outcome: 'exists' };
    input.log(`larder save: ${input.key} is saved, but ${gone.length} of its parts are gone from the store; uploading them again`);
  }

  const present = input.paths.filter((p) => {
    const exists = existsSync(resolveUserPath(p, input.cwd, input.home));
    if (!exists) input.log(`larder save: ${p} does not exist; not saved`);
    return exists;
  });
  if (present.length === 0) {
    const error = new LarderError('LARDER_PATH_NOT_FOUND', `none of ${input.paths.join(', ')} exists`);
    return { ...done(), outcome: 'skipped', error: error.toJSON() };
  }
  const stale = untouchedRestore(present, input);
  if (stale) return { ...done(), outcome: 'skipped', error: stale.toJSON() };
  const readFrom = Date.now();
  // A part too big for memory (one big file) is compressed into a file here, and
  // uploaded from it; whatever is left when the save ends, however it ends, goes.
  const spill = spillFolder(input.cacheDir);
  try {
    return await packAndPublish(client, workers, input, { report, phases, done, base, present, readFrom, spill });
  } finally {
    rmSync(spill, { recursive: true, force: true });
  }
}

interface SaveState {
  report: Report;
  phases: Report['phases'];
  done: () => Report;
  base: Manifest | undefined;
  present: string[];
  readFrom: number;
  spill: string;
}

async function packAndPublish(client: CacheClient, workers: PartWorkers, input: SaveInput, { report, phases, done, base, present, readFrom, spill }: SaveState): Promise<Report> {
  // Parts of the base entry by their tar bytes: a part packed to the same bytes again
  // is that part (same digest, size) with this tree's times, and is not compressed.
  const reusable = new Map((base?.paths ?? []).flatMap((p) => p.parts).flatMap((part) => (part.rawDigest ? [[part.rawDigest, part] as const] : [])));
  workers.know([...reusable.keys()]);

  const mark = performance.now();
  const uploadPart = async (root: string, entries: EntryList): Promise<PartRef> => {
    const pack = (reuse: boolean) => workers.pack({ root, entries, level: input.level, spill, reuse });
    const stored = async (ref: PartRef): Promise<boolean> => {
      const present = (await client.missing([ref.digest], [ref.size])).length === 0;
      if (present) report.partsReused = (report.partsReused ?? 0) + 1;
      return present;
    };
    let part = await pack(true);
    if ('known' in part) {
      const ref: PartRef = { ...(reusable.get(part.known.rawDigest) as PartRef), times: part.known.times };
      if (await stored(ref)) {
        report.partsRecognised = (report.partsRecognised ?? 0) + 1;
        return ref;
      }
      part = (await pack(false)) as Exclude<typeof part, { known: unknown }>; // the base's blob is gone: build it after all
    }
    const { bytes, file } = part;
    try {
      if (!(await stored(part.ref))) {
        const again = part.reread ? await storedFrameAgain(root, entries, part.ref.rawSize) : undefined;
        await client.putBlob(part.ref.digest, part.ref.size, () => bytes ?? again?.() ?? { file: file as string }).catch((err: unknown) => {
          // Read again, the files no longer hash as packed: one changed with its size and time.
          if (again && isLarderError(err, 'LARDER_DIGEST_MISMATCH')) throw new LarderError('LARDER_PATH_CHANGED', `a file in ${root} changed between its packing and its upload (the server got other bytes than were hashed); save after the step that writes it has finished`, { cause: err });
          throw err;
        });
        report.transferredBytes += part.ref.size;
      }
      // Only once the server has it all: a failed upload's buffer may still be in a socket's hands.
      if (bytes) workers.recycle(bytes);
      return part.ref;
    } finally {
      if (file) rmSync(file, { force: true });
    }
  };

  // Parts go to the workers as the walk closes them, so packing starts at once; the
  // walk yields now and then, so finished parts move on to upload meanwhile. Of the parts
  // waiting, the biggest starts first.
  const trees = present.map((path) => ({ path, root: resolveUserPath(path, input.cwd, input.home), refs: [] as PartRef[], files: 0, fileBytes: 0 }));
  let found = 0;
  let finished = 0;
  const queue = new BiggestFirst<PartTask>(
    input.concurrency * 2,
    async (task) => {
      (trees[task.t] as (typeof trees)[number]).refs[task.p] = await uploadPart(task.root, task.entries);
      input.progress?.(++finished, found, report.transferredBytes);
    },
    { bytes: IN_FLIGHT_BYTES, weigh: (task) => (task.bytes > MAX_PART_BYTES ? 0 : task.bytes) },
  );
  // The workers boot once the walk has found more than a small tree; one no bigger is
  // packed on this thread (PartWorkers.runHere), its parts held until the walk ends.
  const held: PartTask[] = [];
  let threads = false;
  let walked = 0;
  const release = (): void => {
    for (const task of held.splice(0)) queue.add(task);
  };
  let breath = performance.now();
  for (const [t, tree] of trees.entries()) {
    const skipped: string[] = [];
    let p = 0;
    for (const entries of streamParts(walkEntries(tree.root, skipped))) {
      for (const e of entries) {
        if (e.type === 'file' || e.type === 'hardlink') tree.files++;
        tree.fileBytes += e.size;
      }
      found++;
      const task = { t, p: p++, root: tree.root, entries: listEntries(entries), bytes: entries.reduce((sum, e) => sum + tarBytesOf(e), 0) };
      if (threads) queue.add(task);
      else {
        held.push(task);
        walked += task.bytes;
        if (walked > SMALL_TREE_BYTES) {
          threads = true;
          workers.warm('pack');
          release();
        }
      }
      if (performance.now() - breath > BREATH_MS) {
        await new Promise<void>((resolve) => setImmediate(resolve));
        breath = performance.now();
      }
    }
    for (const name of skipped) input.log(`larder save: ${tree.path}/${name} is a socket, FIFO or device; not saved`);
  }
  phases.walk = secondsSince(mark);
  if (!threads) workers.runHere();
  release();
  await queue.finish();
  const paths: PathRecord[] = trees.map((tree) => ({ path: tree.path, files: tree.files, fileBytes: tree.fileBytes, parts: tree.refs }));
  phases.packAndUpload = secondsSince(mark);
  if (paths.every((p) => p.parts.length === 0)) {
    const error = new LarderError('LARDER_PATH_NOT_FOUND', `${present.join(', ')} ${present.length === 1 ? 'is' : 'are'} empty: nothing to save`);
    return { ...done(), outcome: 'skipped', error: error.toJSON() };
  }

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
  if (published === 'created' && input.localCache) rememberEntry(input.cacheDir, input.localCache.server, input.localCache.namespace, manifest);
  // The folders are now this key's tree (as they were when the walk began).
  for (const tree of trees) rememberFolder(input, tree.root, { key: input.key, by: 'save' }, readFrom);
  Object.assign(report, {
    outcome: published === 'created' ? 'saved' : 'exists',
    paths: present,
    files: paths.reduce((sum, p) => sum + p.files, 0),
    fileBytes: paths.reduce((sum, p) => sum + p.fileBytes, 0),
    parts: paths.reduce((sum, p) => sum + p.parts.length, 0),
  });
  return done();
}

/**
 * A stored part's frame made again from its files for each attempt to upload it
 * (archive/reread.ts, loaded only when a save has such a part).
 */
async function storedFrameAgain(root: string, entries: EntryList, size: number): Promise<() => SelfSending> {
  const { StoredFrameAgain } = await import('./archive/reread.ts');
  return () => new StoredFrameAgain(root, entriesOf(entries), size);
}

/**
 * The entry this save builds on: its own key's (`exact`: saved already), else the newest
 * entry of its restore keys, looked up as a probe (not counted as a restore's hit or miss).
 */
async function baseEntry(client: CacheClient, input: SaveInput): Promise<{ exact?: Manifest; base?: Manifest }> {
  try {
    const found = await client.lookup(input.key, input.restoreKeys, { probe: true });
    return found.match === 'exact' ? { exact: found.entry, base: found.entry } : { base: found.entry };
  } catch (err) {
    if (!isLarderError(err, 'LARDER_BAD_REQUEST')) throw err;
    // A server from before probes: no base. An existing key is saved already; its parts
    // are not checked (that server's blobs/missing takes no sizes), hence no paths.
    const entry = await client.getEntry(input.key);
    return entry ? { exact: { ...entry, paths: [] } } : {};
  }
}

/**
 * Refuses a save whose every folder is exactly another key's tree, untouched since a
 * restore wrote it (or a save published it): publishing it under this key would serve
 * a tree the build never made, as an exact hit, forever.
 */
function untouchedRestore(paths: string[], input: SaveInput): LarderError | undefined {
  const states = paths.map((path) => readFolderState(input.cacheDir, resolveUserPath(path, input.cwd, input.home)));
  if (!states.every((s) => s !== undefined && s.key !== input.key && unchangedSince(s))) return undefined;
  const first = states[0] as NonNullable<(typeof states)[number]>;
  const how = first.by === 'save' ? `was saved as ${first.key}` : `is what restore wrote from ${first.key} (${first.match === 'prefix' ? 'a restore-key hit' : 'an exact hit'})`;
  return new LarderError(
    'LARDER_UNCHANGED_TREE',
    `${paths.join(', ')} ${how} and nothing in it changed since, so the install step did not run; run it (npm ci, pip install, mvn …) before saving as ${input.key}`,
  );
}
