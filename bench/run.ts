import { mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, homedir } from 'node:os';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Digest } from '../shared/wire/digest.ts';
import { buildCorpora, type Corpus } from './corpora.ts';
import { floorRestore, floorSave } from './floor.ts';
import { type LeastCount, leastEntries, leastListText, leastRestore, leastSave, nodeStart } from './node-least.ts';
import { type FreshFolder, freshFolder, releaseAll } from './fresh-fs.ts';
import { deltaSaves } from './delta.ts';
import { clientPackage, larder, log } from './larder.ts';
import { cpuSeconds, inTurn, median, npmCi, quiet, type Row, sh, timed } from './measure.ts';
import { serverMemory } from './server-memory.ts';
import { freshMemoryRows } from './fresh-memory.ts';
import { lookupRows } from './lookups.ts';
import { startupRows } from './startup.ts';
import { switchRows } from './switch.ts';
import { turborepoRows } from './turborepo.ts';
import { type BenchServer, type BlobSender, namespaceFolder, replayBlobs, startBareReceiver, startServer, toBareReceiver, toLarderServer } from './server.ts';

// npm run bench: builds (or reuses) the corpora, then measures every scenario against
// its baseline in the same run, prints medians and ratios, and writes the results as
// JSON. Ratios, not seconds, are what carry from one machine or run to another.
//   LARDER_BENCH_RUNS (default 3), LARDER_BENCH_CACHE (default ~/.cache/larder-bench),
//   LARDER_BENCH_ONLY=name,name (corpora, 'startup', 'switch', 'lookups', 'turborepo' and 'memory' for those rows),
//   LARDER_BENCH_MEMORY_GB (default 1; 0 skips)

const RUNS = Number(process.env.LARDER_BENCH_RUNS ?? 3);
const CACHE = process.env.LARDER_BENCH_CACHE ?? join(homedir(), '.cache/larder-bench');
const ONLY = process.env.LARDER_BENCH_ONLY?.split(',');
const MEMORY_GB = Number(process.env.LARDER_BENCH_MEMORY_GB ?? 1);
const RESULTS = fileURLToPath(new URL('./results/', import.meta.url));
/** Parts a save has in flight by default (client/options.ts, --concurrency). */
const SAVE_CONCURRENCY = 4;



async function main(): Promise<void> {
  const all = buildCorpora(CACHE, log);
  const corpora = all.filter((c) => !ONLY || ONLY.includes(c.name));
  const work = join(CACHE, `work-${Date.now()}`);
  mkdirSync(work, { recursive: true });
  const rows: Row[] = [];
  const extra: Record<string, unknown> = {};
  try {
    await settleFileSystem(work);
    for (const corpus of corpora.filter((c) => c.name !== 'npm-large-variant' && c.name !== 'npm-large-afresh')) rows.push(...(await saveAndRestore(corpus, work)));
    const large = corpora.find((c) => c.name === 'npm-large');
    const variant = corpora.find((c) => c.name === 'npm-large-variant');
    const afresh = corpora.find((c) => c.name === 'npm-large-afresh');
    const [switchA, switchB] = ['npm-large', 'npm-large-variant'].map((name) => all.find((c) => c.name === name));
    if (switchA && switchB && (!ONLY || ONLY.includes('switch'))) rows.push(...(await switchRows(switchA, switchB, work, RUNS)));
    if (large && variant && afresh) {
      const delta = await deltaSaves(large, variant, afresh, work, RUNS);
      rows.push(...delta.rows);
      extra.deltaSave = delta.detail;
    }
    if (large) rows.push(await keyComputation(large));
    const source = all.find((c) => c.name === 'npm-large');
    if (source && (!ONLY || ONLY.includes('startup'))) rows.push(...(await startupRows(CACHE, source.project, work, Math.max(RUNS, 5))));
    if (!ONLY || ONLY.includes('lookups')) rows.push(...(await lookupRows(work)));
    if (!ONLY || ONLY.includes('turborepo')) rows.push(...(await turborepoRows(work, RUNS)));
    if (!ONLY || ONLY.includes('memory')) rows.push(...freshMemoryRows(work, Math.max(RUNS, 5)));
    if (MEMORY_GB > 0) {
      log(`server memory: 4 clients upload ${MEMORY_GB} GB each`);
      const memory = await serverMemory(join(work, 'store-memory'), 4, MEMORY_GB * 1024 ** 3);
      extra.serverMemory = memory;
      rows.push({ scenario: 'server peak RSS, 4 clients × upload', corpus: `${MEMORY_GB} GB each`, larder: [memory.peakRss / 1e6], baselineName: 'idle RSS (MB)', baseline: [memory.idleRss / 1e6], notes: 'MB; goal: peak < 200 MB' });
    }
  } finally {
    releaseAll();
    // Deleting big trees makes later file creation slow on ext4 (FACTS.md): only at the end.
    rmSync(work, { recursive: true, force: true });
  }
  report(rows, corpora, extra);
}

async function saveAndRestore(corpus: Corpus, work: string): Promise<Row[]> {
  log(`${corpus.name}: ${corpus.files.toLocaleString('en-US')} files, ${(corpus.bytes / 1e6).toFixed(0)} MB`);
  // What the saves write (the archive, the server's store: a namespace per run) and each
  // restore's folder are on file systems of their own (bench/fresh-fs.ts), so neither
  // side's time depends on which trees the disk held before.
  const outputs = freshFolder(join(work, `saved-${corpus.name}`), corpus.bytes * (RUNS + 2), 0);
  if (!outputs.fresh) log('not root, or no mkfs.ext4: measuring in folders on this disk, whose history sways the times');
  const archive = join(outputs.path, `${corpus.name}.tar.zst`);
  const nativeSave: number[] = [];
  const larderSave: number[] = [];
  const saveRss: number[] = [];
  const serverCpuPerGb: number[] = [];
  const bareCpuPerGb: number[] = [];
  const replayCpuPerGb: number[] = [];
  const storedMb: number[] = [];
  // CPU-seconds of everything a step runs: the client's or the pipeline's processes, and
  // for larder the server's share. On two cores that are both busy, they bound its time.
  const nativeSaveCpu: number[] = [];
  const larderSaveCpu: number[] = [];
  const clientSaveCpu: number[] = [];
  const nativeRestoreCpu: number[] = [];
  const larderRestoreCpu: number[] = [];
  // The same work by standard tools on one stream (bench/floor.ts), in turn with the two.
  const floorSaves: number[] = [];
  const floorSaveCpu: number[] = [];
  const floorRestores: number[] = [];
  const floorRestoreCpu: number[] = [];
  // The least a Node.js process does for each (bench/node-least.ts), in turn with them too,
  // and Node's own start and exit.
  const leastSaves: number[] = [];
  const leastRestores: number[] = [];
  const nodeStarts: number[] = [];
  const leastList = leastEntries(corpus.project, corpus.path);
  const leastFiles = leastList.reduce((count, e) => (e.kind === 'file' ? { files: count.files + 1, bytes: count.bytes + e.size } : count), { files: 0, bytes: 0 });
  const wholeTree = (run: LeastCount): void => {
    if (run.files !== leastFiles.files || run.bytes !== leastFiles.bytes) throw new Error(`the least Node.js run did ${run.files} files, ${run.bytes} bytes; the tree has ${leastFiles.files}, ${leastFiles.bytes}`);
  };
  // A server runs for days, so each timed save goes to one that has served a save before
  // (its code compiled, its memory grown): an untimed save of this tree in a namespace of
  // its own, then each run's save in another new one (blobs are kept per namespace, so
  // each timed save finds none of its parts stored). The first save after start-up is
  // reported apart: m2's took 0.82 s against 0.76 s on a warm server (medians of 7).
  const store = join(outputs.path, 'store');
  const server = await startServer(store);
  const source = [join(corpus.project, corpus.path)];
  const saveIn = (namespace: string) => quiet(() => larder(['save', '--key', `bench-${corpus.name}`, '--path', corpus.path], corpus.project, server, namespace), source);
  const firstSave = await saveIn('bench-first');
  // Each save's blobs are sent again, alone on the machine: to a receiver that only
  // hashes and writes them (what a server's CPU per GB comes to in Node with no more than
  // that: bench/server.ts), and to the larder server as a save sends them (into a
  // namespace of their own, emptied after each run). During the save itself the server
  // shares both cores with a busy client.
  const bareDir = join(outputs.path, 'bare');
  mkdirSync(bareDir);
  const bare = await startBareReceiver(bareDir);
  // The floor's own receiver (and sender of the native archive): a 200 MB upload's garbage
  // would otherwise be collected during the bare receiver's next measured replay.
  const floorDir = join(outputs.path, 'floor');
  mkdirSync(floorDir);
  const floor = await startBareReceiver(floorDir, outputs.path);
  // The native archive's digest: the floor's upload is those very bytes (zstd -T0 makes the same frame every time).
  let archiveDigest: string | undefined;
  const leastListFile = join(outputs.path, 'least-list');
  writeFileSync(leastListFile, leastListText(leastList));
  for (let i = 0; i < RUNS; i++) {
    const runNative = async () => {
      const run = await quiet(() => sh(`tar -cf - ${corpus.path} | zstd -T0 -3 -q -f -o ${archive}`, corpus.project), source);
      nativeSave.push(run.seconds);
      nativeSaveCpu.push(run.cpuSeconds);
      archiveDigest ??= sha256Digest(readFileSync(archive));
    };
    const runFloor = async () => {
      const cpuBefore = cpuSeconds(floor.child.pid);
      const run = await quiet(() => floorSave(corpus.project, corpus.path, floor.url, archiveDigest as string), source);
      floorSaves.push(run.seconds);
      floorSaveCpu.push(run.cpuSeconds + cpuSeconds(floor.child.pid) - cpuBefore);
      rmSync(floorDir, { recursive: true });
      mkdirSync(floorDir);
    };
    const runLarder = async () => {
      const cpuBefore = cpuSeconds(server.child.pid);
      const receivedBefore = await bytesReceived(server);
      const run = await saveIn(`bench-${i}`);
      larderSave.push(run.seconds);
      saveRss.push((run.peakRss ?? 0) / 1e6);
      const serverCpu = cpuSeconds(server.child.pid) - cpuBefore;
      const received = (await bytesReceived(server)) - receivedBefore;
      serverCpuPerGb.push(serverCpu / (received / 1e9));
      larderSaveCpu.push(run.cpuSeconds + serverCpu);
      clientSaveCpu.push(run.cpuSeconds);
      storedMb.push(received / 1e6);
      const replay = async (to: BenchServer, send: BlobSender): Promise<number> => {
        const before = cpuSeconds(to.child.pid);
        const sent = await replayBlobs(store, `bench-${i}`, SAVE_CONCURRENCY, send);
        return (cpuSeconds(to.child.pid) - before) / (sent / 1e9);
      };
      await inTurn(
        i,
        async () => bareCpuPerGb.push(await replay(bare, toBareReceiver(bare.url))),
        async () => replayCpuPerGb.push(await replay(server, toLarderServer(server.url, 'replayed'))),
      );
      rmSync(bareDir, { recursive: true });
      mkdirSync(bareDir);
      rmSync(join(namespaceFolder(store, 'replayed'), 'blobs'), { recursive: true });
    };
    const runLeast = async () => {
      const run = await quiet(() => leastSave(corpus.project, corpus.path), source);
      wholeTree(run);
      leastSaves.push(run.seconds);
      nodeStarts.push((await nodeStart(corpus.project)).seconds);
    };
    // The floor needs the native archive's digest: the first round starts with native.
    await inTurn(i, runNative, runLarder, runFloor, runLeast);
  }
  // The restore reads the last run's namespace: only its blobs are read once before it, as
  // the native restore's archive is.
  const restored = `bench-${RUNS - 1}`;
  const nativeRestore: number[] = [];
  const larderRestore: number[] = [];
  for (let i = 0; i < RUNS; i++) {
    const folder = (side: string) => freshFolder(join(work, `${side}-${corpus.name}-${i}`), corpus.bytes, corpus.files);
    await inTurn(
      i,
      () =>
        inFolder(folder('native'), async (dir) => {
          const run = await quiet(() => sh(`zstd -dc ${archive} | tar -xf -`, dir), [archive]);
          nativeRestore.push(run.seconds);
          nativeRestoreCpu.push(run.cpuSeconds);
        }),
      () =>
        inFolder(folder('larder'), async (dir) => {
          const run = await quiet(async () => {
            const cpuBefore = cpuSeconds(server.child.pid);
            const timed = await larder(['restore', '--key', `bench-${corpus.name}`, '--path', corpus.path], dir, server, restored);
            return { ...timed, cpuSeconds: timed.cpuSeconds + cpuSeconds(server.child.pid) - cpuBefore };
          }, [namespaceFolder(store, restored)]);
          larderRestore.push(run.seconds);
          larderRestoreCpu.push(run.cpuSeconds);
        }),
      () =>
        inFolder(folder('floor'), async (dir) => {
          const run = await quiet(async () => {
            const cpuBefore = cpuSeconds(floor.child.pid);
            const timed = await floorRestore(dir, floor.url, basename(archive));
            return { ...timed, cpuSeconds: timed.cpuSeconds + cpuSeconds(floor.child.pid) - cpuBefore };
          }, [archive]);
          floorRestores.push(run.seconds);
          floorRestoreCpu.push(run.cpuSeconds);
        }),
      () =>
        inFolder(folder('least'), async (dir) => {
          const run = await quiet(() => leastRestore(dir, leastListFile), [leastListFile]);
          wholeTree(run);
          leastRestores.push(run.seconds);
        }),
    );
  }
  const rows: Row[] = [
    { scenario: 'save (empty store)', corpus: corpus.name, larder: larderSave, baselineName: 'tar | zstd -T0 -3', baseline: nativeSave, goal: { kind: 'larder/baseline ≤', value: 1 } },
    { scenario: 'save (empty store), the first after the server starts', corpus: corpus.name, larder: [firstSave.seconds], baselineName: 'tar | zstd -T0 -3', baseline: nativeSave, notes: 'one run: the warm-up before the runs above' },
    { scenario: 'restore exact hit, fresh folder', corpus: corpus.name, larder: larderRestore, baselineName: 'zstd -dc | tar -x', baseline: nativeRestore, goal: { kind: 'larder/baseline ≤', value: 1 } },
    // The floor: the work a verified remote cache cannot skip, by standard tools (bench/floor.ts).
    { scenario: 'save, against standard tools doing its work', corpus: corpus.name, larder: larderSave, baselineName: 'tar | zstd -T0 -3 | tee >(sha256sum) | curl -T - to node:http that hashes and writes', baseline: floorSaves, notes: `one stream; that floor took ${against(floorSaves, nativeSave)} the native save's time` },
    { scenario: 'restore, against standard tools doing its work', corpus: corpus.name, larder: larderRestore, baselineName: 'curl from node:http | tee >(sha256sum) | zstd -dc | tar -x', baseline: floorRestores, notes: `one stream; that floor took ${against(floorRestores, nativeRestore)} the native restore's time` },
    { scenario: 'CPU-seconds, save, against standard tools doing its work', corpus: corpus.name, larder: larderSaveCpu, baselineName: 'the floor above (client and receiver)', baseline: floorSaveCpu, notes: `the floor took ${against(floorSaveCpu, nativeSaveCpu)} native's CPU` },
    { scenario: 'CPU-seconds, restore, against standard tools doing its work', corpus: corpus.name, larder: larderRestoreCpu, baselineName: 'the floor above (client and sender)', baseline: floorRestoreCpu, notes: `the floor took ${against(floorRestoreCpu, nativeRestoreCpu)} native's CPU` },
    // The least a Node.js process does (bench/node-least.ts): where it alone is slower than native, no client on Node meets 1.0× there.
    { scenario: 'save, against the least a Node.js process does', corpus: corpus.name, larder: larderSave, baselineName: 'node: walk the tree and read every file, one thread', baseline: leastSaves, notes: `no tar, zstd, hash or network; that took ${against(leastSaves, nativeSave)} the native save's time, and node -e 0 alone ${median(nodeStarts).toFixed(3)} s` },
    { scenario: 'restore, against the least a Node.js process does', corpus: corpus.name, larder: larderRestore, baselineName: 'node: make every folder, file and link with its mode and time, one thread', baseline: leastRestores, notes: `bytes from one piece of memory, no network, hash or zstd; that took ${against(leastRestores, nativeRestore)} the native restore's time` },
    { scenario: 'client peak RSS, save', corpus: corpus.name, larder: saveRss, baselineName: 'the goal (MB)', baseline: [256], goal: { kind: 'larder/baseline ≤', value: 1 }, notes: 'MB' },
    { scenario: 'CPU-seconds, save (client and server)', corpus: corpus.name, larder: larderSaveCpu, baselineName: 'tar | zstd -T0 -3', baseline: nativeSaveCpu, notes: 'every process of the step, all threads' },
    { scenario: 'CPU-seconds, save (the client alone)', corpus: corpus.name, larder: clientSaveCpu, baselineName: 'tar | zstd -T0 -3', baseline: nativeSaveCpu, notes: 'what the build machine pays when the server runs elsewhere' },
    { scenario: 'CPU-seconds, restore (client and server)', corpus: corpus.name, larder: larderRestoreCpu, baselineName: 'zstd -dc | tar -x', baseline: nativeRestoreCpu, notes: 'every process of the step, all threads' },
    { scenario: 'server CPU per GB received, save', corpus: corpus.name, larder: serverCpuPerGb, baselineName: 'node:http that hashes and writes each blob', baseline: bareCpuPerGb, notes: 'CPU-seconds per GB of blobs stored, beside the client; the baseline gets the same blobs afterwards, alone' },
    { scenario: "server CPU per GB, the save's blobs sent again", corpus: corpus.name, larder: replayCpuPerGb, baselineName: 'node:http that hashes and writes each blob', baseline: bareCpuPerGb, notes: 'both alone; larder is asked whether each blob is missing first, as by a save' },
    // What stored parts cost: larder's parts are zstd -3 too, but already-compressed ones are stored as they are.
    { scenario: 'bytes stored, save', corpus: corpus.name, larder: storedMb, baselineName: 'the tar.zst (MB)', baseline: [statSync(archive).size / 1e6], notes: 'MB; parts of already-compressed files are stored, not compressed' },
  ];
  if (corpus.npm) {
    const npmCiRuns: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      await inFolder(freshFolder(join(work, `npmci-${corpus.name}-${i}`), corpus.bytes, corpus.files), async (dir) => npmCiRuns.push((await npmCi(corpus.project, dir)).seconds));
    }
    rows.push({ scenario: 'restore vs npm ci (warm npm cache)', corpus: corpus.name, larder: larderRestore, baselineName: 'npm ci --prefer-offline', baseline: npmCiRuns, goal: { kind: 'baseline/larder ≥', value: 10 } });
  }
  await server.stop();
  await bare.stop();
  await floor.stop();
  outputs.release();
  return rows;
}

/** The ratio of two medians, as `1.23×`. */
function against(a: number[], b: number[]): string {
  return `${(median(a) / median(b)).toFixed(2)}×`;
}

/** Runs a step in a fresh folder, then lets the folder go (its writeback lands before the next step, untimed). */
async function inFolder(folder: FreshFolder, step: (dir: string) => Promise<unknown>): Promise<void> {
  try {
    await step(folder.path);
  } finally {
    folder.release();
  }
}

async function keyComputation(corpus: Corpus): Promise<Row> {
  const key: number[] = [];
  const bare: number[] = [];
  const client = await clientPackage();
  for (let i = 0; i < Math.max(RUNS, 5); i++) {
    key.push((await timed(process.execPath, [client, 'key', '--preset', 'npm'], { cwd: corpus.project })).seconds);
    bare.push((await timed(process.execPath, ['-e', '0'], { cwd: corpus.project })).seconds);
  }
  return { scenario: 'key computation (larder key --preset npm)', corpus: corpus.name, larder: key, baselineName: 'node -e 0 (bare start-up)', baseline: bare, notes: 'the CLI start-up plus hashing the lockfiles' };
}

/**
 * ext4 here creates files 15-40x slower for a minute or more after a big tree is deleted
 * (FACTS.md), as after an earlier bench run's clean-up. Wait until creating 2,000 small
 * files takes its normal time (capped at 3 minutes), so the measurements are not skewed.
 */
async function settleFileSystem(work: string): Promise<void> {
  const probe = join(work, 'settle');
  const started = performance.now();
  for (let i = 0; ; i++) {
    const { seconds } = await sh(`mkdir -p p${i} && cd p${i} && for n in $(seq 1 2000); do : > f$n; done`, (mkdirSync(probe, { recursive: true }), probe));
    if (seconds < 0.5 || performance.now() - started > 180_000) {
      if (i > 0) log(`file system settled after ${((performance.now() - started) / 1000).toFixed(0)} s`);
      return;
    }
    if (i === 0) log(`file creation is slow (${seconds.toFixed(1)} s for 2,000 files), likely after a recent big delete; waiting`);
    await new Promise((r) => setTimeout(r, 5_000));
  }
}

/** Blob bytes the server has stored since it started (its own /v1/stats: the bench server is open on loopback). */
async function bytesReceived(server: BenchServer): Promise<number> {
  const stats = (await (await fetch(`${server.url}/v1/stats`)).json()) as { namespaces: Record<string, { bytesIn: number }> };
  return Object.values(stats.namespaces).reduce((n, ns) => n + ns.bytesIn, 0);
}

function report(rows: Row[], corpora: Corpus[], extra: Record<string, unknown>): void {
  const lines = [
    `| scenario | corpus | larder (median) | baseline | baseline (median) | ratio | goal |`,
    `|---|---|---:|---|---:|---:|---|`,
  ];
  const results = rows.map((row) => {
    const l = median(row.larder);
    const b = median(row.baseline);
    const ratio = row.goal?.kind === 'baseline/larder ≥' ? b / l : l / b;
    const met = row.goal ? (row.goal.kind === 'larder/baseline ≤' ? ratio <= row.goal.value : ratio >= row.goal.value) : undefined;
    const unit = row.notes?.startsWith('MB') ? ' MB' : row.scenario.endsWith('(ms)') ? ' ms' : ' s';
    const goal = row.goal ? `${row.goal.kind} ${row.goal.value}: ${met ? 'met' : 'NOT met'}` : (row.notes ?? '');
    lines.push(`| ${row.scenario} | ${row.corpus} | ${l.toFixed(unit === ' MB' ? 0 : unit === ' ms' ? 1 : 2)}${unit} | ${row.baselineName.replaceAll('|', '\\|')} | ${b.toFixed(unit === ' MB' ? 0 : unit === ' ms' ? 1 : 2)}${unit} | ${ratio.toFixed(2)}× | ${goal}${row.goal && row.notes ? `; ${row.notes}` : ''} |`);
    return { ...row, larderMedian: l, baselineMedian: b, ratio, met };
  });
  const memory = extra.serverMemory as { peakRss: number } | undefined;
  if (memory) lines.push('', `server peak RSS ${(memory.peakRss / 1e6).toFixed(0)} MB: goal < 200 MB ${memory.peakRss < 200e6 ? 'met' : 'NOT met'}`);
  const table = lines.join('\n');
  process.stdout.write(`\n${table}\n\n`);
  const corporaTable = corpora.map((c) => `${c.name}: ${c.files.toLocaleString('en-US')} files, ${(c.bytes / 1e6).toFixed(0)} MB`).join('; ');
  process.stdout.write(`corpora: ${corporaTable}\nruns: ${RUNS}, cores: ${availableParallelism()}, node ${process.version}\n`);
  mkdirSync(RESULTS, { recursive: true });
  const record = { date: new Date().toISOString(), runs: RUNS, cores: availableParallelism(), node: process.version, corpora, results, ...extra, table };
  // A partial run (LARDER_BENCH_ONLY) is named for what it ran, and leaves latest.json to full runs.
  const file = join(RESULTS, `${record.date.slice(0, 10)}${ONLY ? `-${ONLY.join('+')}` : ''}.json`);
  writeFileSync(file, `${JSON.stringify(record, null, 2)}\n`);
  if (!ONLY) writeFileSync(join(RESULTS, 'latest.json'), `${JSON.stringify(record, null, 2)}\n`);
  process.stdout.write(`results written to ${file}\n`);
}

await main();
