import { availableParallelism } from 'node:os';
import { isLarderError, LarderError } from '../shared/errors.ts';
import { type Manifest, type PartRef, type PathRecord, READABLE_MANIFEST_VERSIONS } from '../shared/wire/manifest.ts';
import { mapLimit } from '../shared/concurrency.ts';
import { finishLinks, finishTree } from './archive/finish-tree.ts';
import type { ExtractResult } from './archive/tar-read.ts';
import { fitsInMemory } from './archive/unpack.ts';
import { readFolderState, type RecordedState, recordedSince, rememberFolder, unchangedBelow, unchangedRoot } from './folders/folder-state.ts';
import { unchangedByFind } from './folders/find-changes.ts';
import { patchIntoPlace, retimeInPlace } from './folders/patch.ts';
import { planReuse } from './local/reuse.ts';
import { localLookup, rememberEntry } from './local/entry-cache.ts';
import { hasLocalPart, partsDir } from './local/part-cache.ts';
import type { LookupResponse } from '../shared/wire/protocol.ts';
import { resolveUserPath } from './folders/paths.ts';
import { type Report, secondsSince } from './report.ts';
import { createStaging, discardStaging, removeTrees, type Staging, swapIntoPlace } from './folders/staging.ts';
import { SpareMemory } from './spare-memory.ts';
import { downloadPart } from './transport/part-download.ts';
import type { CacheClient } from './transport/transfer.ts';
import { type PartWorkers, SMALL_TREE_BYTES } from './workers/worker-pool.ts';

// restore: lookup → for each path asked for, download its parts N at once on this thread,
// each handed to a worker thread (this one, for a small tree) that verifies and extracts
// it into a staging folder → finish links and folder times → swap
// every staging folder into place. Any failure discards the staging folders and leaves
// the targets exactly as they were.

/** Spare memory kept for downloads: one per download in flight and a few more. */
const DOWNLOAD_SPARES = 8;

export interface RestoreInput {
  key: string;
  restoreKeys: string[];
  /** restore keys that are this key in a trusted tier (--fallback-prefix): a hit on one is exact */
  sameInputs?: string[];
  /** keep manifests on this machine, and fall back to them when the server is unreachable */
  localCache?: { server: string; namespace: string };
  /** take entries an untrusted token published */
  allowUntrusted?: boolean;
  /** only these paths are restored, whatever else the entry holds */
  paths: string[];
  cwd: string;
  home: string;
  /** where what each folder holds is recorded (client/folders/folder-state.ts) */
  cacheDir: string;
  concurrency: number;
  log: (line: string) => void;
  /** called as parts finish (for a progress line on a terminal) */
  progress?: (done: number, total: number, bytes: number) => void;
}

export async function restore(client: CacheClient, workers: PartWorkers, input: RestoreInput): Promise<Report> {
  const started = performance.now();
  const phases: Report['phases'] = {};
  const report: Report = { command: 'restore', outcome: 'miss', key: input.key, match: 'none', paths: [], files: 0, fileBytes: 0, parts: 0, transferredBytes: 0, seconds: 0, phases };
  const done = (): Report => ({ ...report, seconds: secondsSince(started) });

  let mark = performance.now();
  const states = new Map(input.paths.map((p) => [p, readFolderState(input.cacheDir, resolveUserPath(p, input.cwd, input.home))]));
  const answer = await lookupOrLocal(client, input);
  // The same inputs' entry in the trusted tier is as good as our own.
  const found = answer.match === 'prefix' && answer.key !== undefined && input.sameInputs?.includes(answer.key) ? { ...answer, match: 'exact' as const } : answer;
  phases.lookup = secondsSince(mark);
  for (const key of found.passedOver ?? []) input.log(`larder restore: passed over ${key}: a token marked untrusted published it, so any job holding that token could have written it (--allow-untrusted takes it)`);
  if (found.match === 'none' || !found.entry) return done();
  const entry = checkEntry(found.entry);

  const wanted = entry.paths.filter((p) => input.paths.includes(p.path));
  for (const path of input.paths) if (!wanted.some((p) => p.path === path)) input.log(`larder restore: ${found.key} holds no ${path}`);
  if (wanted.length === 0) return done();
  checkCaps(wanted);
  // The part workers boot while folders are checked, if there is no folder to check (its
  // check needs the cores), and not at all for a tree a few MB big (SMALL_TREE_BYTES).
  if (sum(wanted, (p) => sum(p.parts, (part) => part.rawSize)) <= SMALL_TREE_BYTES) workers.runHere();
  if (![...states.values()].some(Boolean)) workers.warm('extract');

  // A folder that still holds this very entry, untouched since it was restored or saved,
  // is left as it is: switching back to a branch costs one lstat per file, not a download.
  // One that holds another entry this machine knows is patched: only what differs is written.
  mark = performance.now();
  const held = await Promise.all(wanted.map((p) => heldUntouched(input, workers, states.get(p.path), found.key as string)));
  const plans = wanted.flatMap((path, i) => {
    const target = resolveUserPath(path.path, input.cwd, input.home);
    const { key: heldKey, entry: heldEntry } = held[i] ?? {};
    if (heldKey === found.key) return [];
    const reuse = heldEntry === undefined || entry.version !== 2 ? undefined : planReuse({ cacheDir: input.cacheDir, target, held: heldEntry, wanted: path });
    return [{ path, target, reuse }];
  });
  phases.check = secondsSince(mark);
  report.upToDate = wanted.length - plans.length;
  if (plans.length > 0) workers.warm('extract');

  mark = performance.now();
  const partCache = input.localCache ? partsDir(input.cacheDir) : undefined;
  const stagings: Staging[] = [];
  const leftovers: string[] = [];
  let finished = 0;
  const memory = new SpareMemory(DOWNLOAD_SPARES);
  const extractAll = async (tasks: Array<{ pathIndex: number; part: PartRef }>): Promise<Array<{ pathIndex: number; result: ExtractResult }>> => {
    // Biggest parts first, so no big part is left running alone at the end.
    const sorted = [...tasks].sort((a, b) => b.part.rawSize - a.part.rawSize);
    return mapLimit(sorted, input.concurrency, async ({ pathIndex, part }) => {
      // This thread downloads (its event loop is free; a worker's writes would stall its
      // sockets); a part this machine holds, or one too big for memory, is the worker's.
      const bytes = fitsInMemory(part) && !(partCache && hasLocalPart(partCache, part)) ? await downloadPart(client, part, memory) : undefined;
      const { spare, ...result } = await workers.extract(part, (stagings[pathIndex] as Staging).dir, bytes).catch((err: unknown) => healed(client, part, err));
      if (spare) memory.give(spare);
      if (!result.local) report.transferredBytes += part.size;
      input.progress?.(++finished, tasks.length, report.transferredBytes);
      return { pathIndex, result };
    });
  };
  // Members already in place take their new times while the workers extract.
  const retiming: Array<Promise<void>> = [];
  try {
    for (const plan of plans) stagings.push(createStaging(plan.target, input.log));
    for (const plan of plans) if (plan.reuse) retiming.push(retimeInPlace(plan.target, plan.reuse.retimed));
    const results = await extractAll(plans.flatMap((plan, pathIndex) => (plan.reuse?.added ?? plan.path.parts).map((part) => ({ pathIndex, part }))));
    const resultsOf = (i: number) => results.filter((r) => r.pathIndex === i).map((r) => r.result);
    // New parts with hard links may point at files the kept parts hold: such a folder is
    // restored whole, the kept parts extracted beside the new ones.
    const whole = plans.map((plan, i) => !plan.reuse || resultsOf(i).some((r) => r.hardlinks.length > 0));
    results.push(...(await extractAll(plans.flatMap((plan, pathIndex) => (plan.reuse && whole[pathIndex] ? plan.reuse.kept : []).map((part) => ({ pathIndex, part }))))));
    await Promise.all(retiming);
    report.partsInPlace = plans.reduce((n, plan, i) => n + (whole[i] ? 0 : plan.reuse?.kept.length ?? 0), 0);
    phases.downloadAndExtract = secondsSince(mark);
    mark = performance.now();
    stagings.forEach((staging, i) => {
      if (whole[i]) finishTree(staging.dir, resultsOf(i));
      else finishLinks(staging.dir, resultsOf(i));
    });
    leftovers.push(...swapIntoPlace(stagings.filter((_, i) => whole[i])));
    stagings.forEach((staging, i) => {
      const reuse = plans[i]?.reuse;
      if (whole[i] || !reuse) return;
      leftovers.push(patchIntoPlace({ target: staging.target, staging, removed: reuse.removed, dirs: resultsOf(i).flatMap((r) => r.dirs) }), staging.dir);
    });
    phases.swap = secondsSince(mark);
  } catch (err) {
    await workers.terminate(); // no worker may still be writing into a staging folder
    for (const staging of stagings) discardStaging(staging);
    await Promise.allSettled(retiming);
    for (const plan of plans) if (plan.reuse) await retimeInPlace(plan.target, plan.reuse.retimed, true).catch(() => {}); // as it was, as far as it can be
    throw err;
  }
  // The restore has succeeded; the folders it replaced or emptied go last.
  mark = performance.now();
  removeTrees(leftovers, input.log);
  phases.removeOld = secondsSince(mark);
  for (const plan of plans) rememberFolder(input, plan.target, { key: found.key ?? input.key, by: 'restore', match: found.match });
  if (input.localCache) rememberEntry(input.cacheDir, input.localCache.server, input.localCache.namespace, entry);
  Object.assign(report, {
    outcome: 'hit',
    match: found.match,
    matchedKey: found.key,
    paths: wanted.map((p) => p.path),
    files: sum(wanted, (p) => p.files),
    fileBytes: sum(wanted, (p) => p.fileBytes),
    parts: sum(wanted, (p) => p.parts.length),
  });
  const final = done();
  const built = entry.client.buildSeconds;
  return built === undefined ? final : { ...final, savedSeconds: Math.max(0, built - final.seconds) };
}

/**
 * The server's answer; with the local cache on and the server unreachable, the entry
 * this machine last had for the key (or a restore key), when every part of it is here.
 */
async function lookupOrLocal(client: CacheClient, input: RestoreInput): Promise<LookupResponse> {
  try {
    return await client.lookup(input.key, input.restoreKeys, { allowUntrusted: input.allowUntrusted === true });
  } catch (err) {
    const offline = isLarderError(err, 'LARDER_UNREACHABLE') || isLarderError(err, 'LARDER_TIMEOUT');
    if (!offline || !input.localCache) throw err;
    const local = localLookup(input.cacheDir, input.localCache.server, input.localCache.namespace, input.key, input.restoreKeys);
    const parts = local?.entry.paths.filter((p) => input.paths.includes(p.path)).flatMap((p) => p.parts) ?? [];
    const dir = partsDir(input.cacheDir);
    if (!local || parts.length === 0 || !parts.every((part) => hasLocalPart(dir, part))) throw err;
    input.log(`larder restore: the server is unreachable (${err.code}); restoring ${local.key} from the local cache`);
    return local;
  }
}

/**
 * The entry the folder's record says it holds, when nothing in it changed since and that
 * is this entry, or another whose manifest the local cache has (then given, for a
 * restore in place); else undefined, unchecked.
 */
async function heldUntouched(input: RestoreInput, workers: PartWorkers, state: RecordedState | undefined, key: string): Promise<{ key: string; entry?: Manifest } | undefined> {
  if (state === undefined) return undefined;
  const local = state.key === key || !input.localCache ? undefined : localLookup(input.cacheDir, input.localCache.server, input.localCache.namespace, state.key, []);
  const entry = local?.match === 'exact' ? local.entry : undefined;
  if (state.key !== key && entry === undefined) return undefined;
  return (await untouched(workers, state)) ? { key: state.key, ...(entry ? { entry } : {}) } : undefined;
}

/**
 * One lstat per entry: by two `find` processes for a big folder (client/folders/find-changes.ts),
 * else here, or shared with the part workers where there is no find.
 */
async function untouched(workers: PartWorkers, state: RecordedState): Promise<boolean> {
  const top = unchangedRoot(state);
  if (top === undefined) return false;
  if (top.length < 64) return unchangedBelow(top, state.since);
  const found = await unchangedByFind(top, state.file, availableParallelism());
  // The record rewritten meanwhile (another restore) moved the reference: count it a change.
  if (found !== undefined) return found && recordedSince(state.file) === state.since;
  const shares = Array.from({ length: workers.size + 1 }, (_, i) => top.filter((_, j) => j % (workers.size + 1) === i));
  const [own = [], ...others] = shares;
  const elsewhere = Promise.all(others.map((share) => workers.check(share, state.since)));
  elsewhere.catch(() => {}); // awaited below
  const here = unchangedBelow(own, state.since);
  return here && (await elsewhere).every(Boolean);
}

/**
 * A part that arrived corrupt: the server hashes its own copy and removes it when it is
 * corrupt, so the next save of the tree uploads it again. The restore fails either way.
 */
async function healed(client: CacheClient, part: PartRef, err: unknown): Promise<never> {
  if (!isLarderError(err, 'LARDER_INTEGRITY')) throw err;
  const verdict = await client.verifyBlob(part.digest).catch(() => undefined);
  const what = verdict === undefined ? 'the server could not check its copy' : verdict.intact ? 'the server\'s copy is intact (it was damaged on the way)' : 'the server found its copy corrupt and removed it; the next save uploads it again';
  throw new LarderError('LARDER_INTEGRITY', `${err.message}; ${what}`);
}

// Caps on what one restore may write, checked against the entry before any download.
export const MAX_RESTORE_RAW_BYTES = 64 * 1024 ** 3;
export const MAX_RESTORE_ENTRIES = 5_000_000;

function checkCaps(paths: PathRecord[]): void {
  const parts = paths.flatMap((p) => p.parts);
  const raw = parts.reduce((total, part) => total + part.rawSize, 0);
  const entries = parts.reduce((total, part) => total + part.entries, 0);
  if (raw > MAX_RESTORE_RAW_BYTES) throw new LarderError('LARDER_UNSAFE_ARCHIVE', `the entry expands to ${raw} bytes, over the ${MAX_RESTORE_RAW_BYTES}-byte cap`);
  if (entries > MAX_RESTORE_ENTRIES) throw new LarderError('LARDER_UNSAFE_ARCHIVE', `the entry holds ${entries} files, over the ${MAX_RESTORE_ENTRIES} cap`);
}

/** The server validated the entry when it was published; a reply that isn't one is not trusted. */
function checkEntry(entry: Manifest): Manifest {
  if (!READABLE_MANIFEST_VERSIONS.includes(entry.version) || entry.codec !== 'zstd' || !Array.isArray(entry.paths)) {
    throw new LarderError('LARDER_BAD_RESPONSE', `entry ${entry.key} has version ${entry.version} and codec ${entry.codec}; this client reads versions ${READABLE_MANIFEST_VERSIONS.join(' and ')}, zstd`);
  }
  // Version 2 parts hold no times of their own: each must have its times beside it.
  if (entry.version === 2 && entry.paths.some((p) => p.parts.some((part) => typeof part.times !== 'string'))) {
    throw new LarderError('LARDER_BAD_RESPONSE', `entry ${entry.key} is version 2 but a part has no times`);
  }
  return entry;
}

function sum<T>(items: T[], of: (item: T) => number): number {
  return items.reduce((total, item) => total + of(item), 0);
}
