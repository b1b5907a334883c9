import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { IN_MEMORY_RAW_LIMIT } from '../../client/archive/pack.ts';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { save } from '../../client/save.ts';
import { CacheClient } from '../../client/transport/transfer.ts';
import { PartWorkers, SMALL_TREE_BYTES } from '../../client/workers/worker-pool.ts';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../helpers/trees.ts';

// What a save publishes: parts that depend on what the tree holds, never on when it was
// written, so two fresh installs of one lockfile share every part.

const KEY = ['--restore-key', 'deps-', '--path', 'deps'];

/** Every file, folder and link of the tree gets this time, as a fresh install would. */
function touchAll(root: string, seconds: number): void {
  for (const entry of snapshotTree(root)) {
    if (entry.type !== 'symlink') utimesSync(join(root, entry.rel), seconds, seconds);
  }
}

t.test('the same tree written at another time shares every part, and each restore keeps its own times', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const first = tempDir(t, 'install-a');
  buildSampleTree(join(first, 'deps'));
  touchAll(join(first, 'deps'), 1_700_000_000);
  const a = await runLarder(['save', '--key', 'deps-a', ...KEY, '--json'], { cwd: first, env });
  t.equal(a.code, 0, a.stderr);
  const saveA = JSON.parse(a.stdout);
  t.match(saveA, { outcome: 'saved', partsReused: 0 });

  // A second install of the same content: same files, every time different.
  const second = tempDir(t, 'install-b');
  execFileSync('cp', ['-a', join(first, 'deps'), join(second, 'deps')]); // hard links kept
  touchAll(join(second, 'deps'), 1_800_000_123);
  const b = await runLarder(['save', '--key', 'deps-b', ...KEY, '--json'], { cwd: second, env });
  t.equal(b.code, 0, b.stderr);
  const saveB = JSON.parse(b.stdout);
  t.match(saveB, { outcome: 'saved', parts: saveA.parts, partsReused: saveA.parts, transferredBytes: 0 }, 'nothing uploaded: the parts do not hold times');

  for (const [key, source] of [['deps-a', first], ['deps-b', second]] as const) {
    const target = tempDir(t, `restore-${key}`);
    writeFileSync(join(target, 'marker'), '');
    const restored = await runLarder(['restore', '--key', key, '--path', 'deps', '--json'], { cwd: target, env });
    t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' });
    t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(source, 'deps')), `${key}: content, modes, links and its own times`);
  }
});

const LOCKED = ['--key', 'deps-{hash:deps.lock}', '--restore-key', 'deps-', '--path', 'deps'];

/** A project whose deps were restored by a restore-key hit from the entry of lockfile v1. */
async function afterRestoreKeyHit(t: Test, env: NodeJS.ProcessEnv): Promise<string> {
  const first = tempDir(t, 'lock-v1');
  writeFileSync(join(first, 'deps.lock'), 'v1');
  buildSampleTree(join(first, 'deps'));
  const saved = await runLarder(['save', ...LOCKED, '--json'], { cwd: first, env });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' });
  const second = tempDir(t, 'lock-v2');
  writeFileSync(join(second, 'deps.lock'), 'v2');
  const restored = await runLarder(['restore', ...LOCKED, '--json'], { cwd: second, env });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'prefix' });
  return second;
}

t.test('a save refuses to publish, under a new key, the tree a restore-key hit wrote when nothing changed since', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const project = await afterRestoreKeyHit(t, env);
  const refused = await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env });
  t.equal(refused.code, 0, 'a cache that refuses never fails the build');
  t.match(JSON.parse(refused.stdout), { outcome: 'skipped', transferredBytes: 0, error: { code: 'LARDER_UNCHANGED_TREE' } });
  t.match(refused.stderr, /deps is what restore wrote from deps-\w+ \(a restore-key hit\) and nothing in it changed since, so the install step did not run/);
  const strict = await runLarder(['save', ...LOCKED, '--strict'], { cwd: project, env });
  t.equal(strict.code, 1, '--strict makes it an error');
  const listed = (await (await fetch(`${url}/v1/ns/default/entries`)).json()) as { entries: unknown[] };
  t.equal(listed.entries.length, 1, 'nothing was published under the new key');
});

const smallBuilds: Array<[string, (deps: string) => void]> = [
  ['rewrites one byte of one file in place', (deps) => writeFileSync(join(deps, 'lib/index.js'), 'module.exports = 43;\n')],
  ['changes one mode', (deps) => chmodSync(join(deps, 'bin/tool'), 0o700)],
  ['deletes one file', (deps) => rmSync(join(deps, 'lib/empty.txt'))],
  ['adds one empty folder deep inside', (deps) => mkdirSync(join(deps, 'empty-dir/inner-empty/new'))],
  ['deletes the folder and installs the same files afresh', (deps) => {
    const aside = `${deps}-aside`;
    execFileSync('cp', ['-a', deps, aside]);
    rmSync(deps, { recursive: true, force: true });
    execFileSync('mv', [aside, deps]);
  }],
];
for (const [what, build] of smallBuilds) {
  t.test(`a build that ${what} after a restore-key hit is saved`, async (t) => {
    const { url } = await startServer(t);
    const env = { LARDER_SERVER: url };
    const project = await afterRestoreKeyHit(t, env);
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the file system clock's tick
    build(join(project, 'deps'));
    const saved = await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env });
    t.match(JSON.parse(saved.stdout), { outcome: 'saved' }, saved.stderr);
  });
}

t.test('a folder saved under one key and untouched since is not saved again under another', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const project = tempDir(t, 'resave');
  writeFileSync(join(project, 'deps.lock'), 'v1');
  buildSampleTree(join(project, 'deps'));
  t.match(JSON.parse((await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env })).stdout), { outcome: 'saved' });
  writeFileSync(join(project, 'deps.lock'), 'v2'); // the lockfile changed; the install did not run
  const refused = await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env });
  t.match(JSON.parse(refused.stdout), { outcome: 'skipped', error: { code: 'LARDER_UNCHANGED_TREE' } });
  t.match(refused.stderr, /deps was saved as deps-\w+ and nothing in it changed since/);
});

t.test('a save recognises the parts of the entry it builds on by their tar bytes, and builds any whose blob is gone', async (t) => {
  const { url, storeDir } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const first = tempDir(t, 'base');
  buildSampleTree(join(first, 'deps'));
  for (const pkg of ['pkg-a', 'pkg-b', 'pkg-c']) {
    mkdirSync(join(first, 'deps', pkg));
    writeFileSync(join(first, 'deps', pkg, 'data.bin'), Buffer.alloc(5 * 1024 * 1024, pkg));
  }
  const base = JSON.parse((await runLarder(['save', '--key', 'deps-a', ...KEY, '--json'], { cwd: first, env })).stdout);
  t.ok(base.parts >= 3, `${base.parts} parts`);

  const second = tempDir(t, 'afresh');
  execFileSync('cp', ['-a', join(first, 'deps'), join(second, 'deps')]);
  touchAll(join(second, 'deps'), 1_800_000_000);
  const again = JSON.parse((await runLarder(['save', '--key', 'deps-b', ...KEY, '--json'], { cwd: second, env })).stdout);
  t.match(again, { outcome: 'saved', partsReused: base.parts, partsRecognised: base.parts, transferredBytes: 0 }, 'every part recognised, none compressed');

  // One of the base's blobs vanishes from the store: that part is built and uploaded after all.
  const blobs = execFileSync('find', [join(storeDir, 'v1'), '-path', '*/blobs/*', '-type', 'f']).toString().trim().split('\n');
  rmSync(blobs[0] as string);
  const third = tempDir(t, 'healed');
  execFileSync('cp', ['-a', join(second, 'deps'), join(third, 'deps')]);
  const healed = JSON.parse((await runLarder(['save', '--key', 'deps-c', ...KEY, '--json'], { cwd: third, env })).stdout);
  t.match(healed, { outcome: 'saved', partsRecognised: base.parts - 1 });
  t.ok(healed.transferredBytes > 0, 'the missing part was uploaded');
  const target = tempDir(t, 'check');
  const restored = await runLarder(['restore', '--key', 'deps-c', '--path', 'deps', '--json'], { cwd: target, env });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit' }, restored.stderr);
  t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(third, 'deps')), 'and it restores whole, with its own times');
});

t.test('an empty folder is not saved: an entry of nothing would restore nothing', async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'empty');
  mkdirSync(join(project, 'deps'));
  const saved = await runLarder(['save', '--key', 'empty', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url } });
  t.equal(saved.code, 0);
  t.match(JSON.parse(saved.stdout), { outcome: 'skipped', error: { code: 'LARDER_PATH_NOT_FOUND', message: 'deps is empty: nothing to save' } });
  t.equal((await fetch(`${url}/v1/ns/default/entries/empty`)).status, 404);
});

t.test('a file too big for memory is compressed into a spill file and uploaded from it; no spill folder outlives the save', async (t) => {
  const { url } = await startServer(t);
  const cacheDir = tempDir(t, 'cache');
  const env = { LARDER_SERVER: url, LARDER_CACHE_DIR: cacheDir, LARDER_LOCAL_CACHE: '1' };
  const project = tempDir(t, 'big');
  mkdirSync(join(project, 'deps'));
  // Over the in-memory limit: one part of its own, streamed.
  const big = randomBytes(IN_MEMORY_RAW_LIMIT + 4096);
  writeFileSync(join(project, 'deps/native.node'), big);
  writeFileSync(join(project, 'deps/index.js'), 'module.exports = 1;\n');
  const saved = await runLarder(['save', '--key', 'big-1', '--path', 'deps', '--json'], { cwd: project, env });
  t.equal(saved.code, 0, saved.stderr);
  t.match(JSON.parse(saved.stdout), { outcome: 'saved', parts: 2 });
  t.same(readdirSync(cacheDir).filter((n) => n.startsWith('larder-spill-')), [], 'the spill folder is gone');
  const kept = readdirSync(join(cacheDir, 'parts'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.endsWith('.list'));
  t.ok(kept.some((e) => statSync(join(e.parentPath, e.name)).size > IN_MEMORY_RAW_LIMIT), 'the local cache keeps the streamed part too (a second name for its spill file)');
  const target = tempDir(t, 'big-restore');
  const restored = await runLarder(['restore', '--key', 'big-1', '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url, LARDER_CACHE_DIR: tempDir(t) } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit' });
  t.ok(readFileSync(join(target, 'deps/native.node')).equals(big), 'the big file comes back byte for byte');

  // A save that fails after the big part was spilled (the server takes no blob that big) leaves no spill folder either.
  const strict = await startServer(t, { limits: { maxBlobBytes: 32 * 1024 } });
  writeFileSync(join(project, 'deps/index.js'), 'module.exports = 2;\n'); // a build ran
  const failed = await runLarder(['save', '--key', 'big-2', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: strict.url, LARDER_CACHE_DIR: cacheDir } });
  t.match(JSON.parse(failed.stdout), { outcome: 'error', error: { code: 'LARDER_TOO_LARGE' } });
  t.same(readdirSync(cacheDir).filter((n) => n.startsWith('larder-spill-')), [], 'still none after a failed save');
});

t.test('a cache folder that cannot be made does not stop a save, big file and all: the spill folder goes to the temp folder', async (t) => {
  const { url } = await startServer(t);
  const blocker = join(tempDir(t, 'blocked'), 'a-file');
  writeFileSync(blocker, ''); // a folder below a file cannot be made, even by root
  const project = tempDir(t, 'big-blocked');
  mkdirSync(join(project, 'deps'));
  const big = randomBytes(IN_MEMORY_RAW_LIMIT + 4096);
  writeFileSync(join(project, 'deps/native.node'), big);
  const saved = await runLarder(['save', '--key', 'blocked-1', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url, LARDER_CACHE_DIR: join(blocker, 'cache'), LARDER_LOCAL_CACHE: '1' } });
  t.equal(saved.code, 0, saved.stderr);
  t.match(JSON.parse(saved.stdout), { outcome: 'saved', parts: 1 });
  const target = tempDir(t, 'blocked-restore');
  const restored = await runLarder(['restore', '--key', 'blocked-1', '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url, LARDER_CACHE_DIR: tempDir(t) } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit' });
  t.ok(readFileSync(join(target, 'deps/native.node')).equals(big));
});

t.test('the spill folder a killed save left behind is removed by the next save; a running save\'s is not', async (t) => {
  const { url } = await startServer(t);
  const cacheDir = tempDir(t, 'cache-left');
  const dead = spawnSync('true').pid as number; // a process that has exited
  mkdirSync(join(cacheDir, `larder-spill-${dead}-abc123`));
  writeFileSync(join(cacheDir, `larder-spill-${dead}-abc123`, 'part.zst'), 'left by a killed save');
  mkdirSync(join(cacheDir, `larder-spill-${process.pid}-def456`)); // a save still running (this process)
  const project = tempDir(t, 'left');
  buildSampleTree(join(project, 'deps'));
  const saved = await runLarder(['save', '--key', 'left-1', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url, LARDER_CACHE_DIR: cacheDir } });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' });
  t.same(readdirSync(cacheDir).filter((n) => n.startsWith('larder-spill-')), [`larder-spill-${process.pid}-def456`]);
});

t.test('a tree of a few MB is packed on this thread, a bigger one by worker threads, and both restore whole', async (t) => {
  const { url } = await startServer(t);
  const source = tempDir(t, 'sizes');
  buildSampleTree(join(source, 'small'));
  buildSampleTree(join(source, 'big'));
  writeFileSync(join(source, 'big', 'blob.bin'), randomBytes(SMALL_TREE_BYTES + (1 << 20)));
  for (const [path, threads] of [['small', false], ['big', true]] as const) {
    const client = new CacheClient({ server: url, namespace: 'default' });
    const workers = new PartWorkers(2, { server: url, namespace: 'default' });
    t.teardown(() => Promise.all([workers.terminate(), client.close()]));
    const report = await save(client, workers, { key: path, restoreKeys: [], inputs: {}, paths: [path], cwd: source, home: source, cacheDir: join(source, '.cache'), concurrency: 2, level: 3, log: () => {} });
    t.match(report, { outcome: 'saved' });
    t.equal(workers.threads > 0, threads, `${path}: ${threads ? 'worker threads' : 'no worker thread'}`);
    const target = tempDir(t, `restore-${path}`);
    t.equal((await runLarder(['restore', '--key', path, '--path', path, '--strict'], { cwd: target, env: { LARDER_SERVER: url } })).code, 0);
    t.same(snapshotTree(join(target, path)), snapshotTree(join(source, path)), `${path}: restored whole`);
  }
});
