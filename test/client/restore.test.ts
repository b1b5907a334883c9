import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import t from 'tap';
import { request } from 'undici';
import { sha256Digest } from '../../shared/wire/digest.ts';
import type { Manifest } from '../../shared/wire/manifest.ts';
import { pseudoRandom } from '../../bench/corpora.ts';
import { watchRss } from '../../bench/measure.ts';
import { IN_MEMORY_PART_LIMIT } from '../../client/archive/unpack.ts';
import { restore } from '../../client/restore.ts';
import { CacheClient } from '../../client/transport/transfer.ts';
import { PartWorkers, SMALL_TREE_BYTES } from '../../client/workers/worker-pool.ts';
import { LARDER_BIN, runLarder, runProcess } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../helpers/trees.ts';

t.test('an entry of manifest version 1 (times inside the parts) still restores, times and all', async (t) => {
  const { url } = await startServer(t);
  const src = tempDir(t, 'v1-src');
  buildSampleTree(src);
  // What the first client published: one tar per part, with each member's own time in it.
  const names = readdirSync(src).sort();
  const tar = execFileSync('tar', ['--format=gnu', '--owner=0', '--group=0', '--numeric-owner', '-C', src, '-cf', '-', ...names], { maxBuffer: 64 << 20 });
  const members = execFileSync('tar', ['-tf', '-'], { input: tar }).toString().trim().split('\n').length;
  const compressed = zstdCompressSync(tar);
  const digest = sha256Digest(compressed);
  const put = await request(`${url}/v1/ns/default/blobs/${digest}`, { method: 'PUT', body: compressed, headers: { 'content-type': 'application/octet-stream' } });
  t.equal(put.statusCode, 201);
  await put.body.dump();
  const manifest: Manifest = {
    version: 1,
    key: 'deps-v1',
    createdAt: new Date().toISOString(),
    codec: 'zstd',
    paths: [{ path: 'deps', parts: [{ digest, size: compressed.length, rawSize: tar.length, entries: members }], files: 0, fileBytes: 0 }],
    inputs: {},
    client: { version: '0.1.0', os: 'linux', arch: 'x64' },
  };
  const published = await request(`${url}/v1/ns/default/entries/deps-v1`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'content-type': 'application/json' } });
  t.equal(published.statusCode, 201, 'a server still takes version 1 entries');
  await published.body.dump();

  const target = tempDir(t, 'v1-target');
  const restored = await runLarder(['restore', '--key', 'deps-v1', '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' }, restored.stderr);
  t.same(snapshotTree(join(target, 'deps')), snapshotTree(src), 'content, modes, links and the times inside the parts');
});

t.test('a file over 2 GiB that compresses to almost nothing restores in bounded memory', async (t) => {
  const { url } = await startServer(t);
  const source = tempDir(t, 'huge-src');
  mkdirSync(join(source, 'deps'));
  const size = 2.25 * 1024 ** 3; // over writeSync's 2 GiB, and a declared raw size no buffer should take
  execFileSync('truncate', ['-s', String(size), join(source, 'deps', 'zeros.bin')]);
  const saved = await runLarder(['save', '--key', 'huge', '--path', 'deps', '--json'], { cwd: source, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' }, saved.stderr);
  t.ok(JSON.parse(saved.stdout).transferredBytes < 1e6, 'a few hundred kB on the wire');

  const target = tempDir(t, 'huge-dst');
  const child = spawn(process.execPath, [LARDER_BIN, 'restore', '--key', 'huge', '--path', 'deps', '--json'], { cwd: target, env: { PATH: process.env.PATH, HOME: target, LARDER_SERVER: url, LARDER_LOCAL_CACHE: '0' } });
  const rss = watchRss(child);
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  await once(child, 'exit');
  const peak = rss.stop();
  t.match(JSON.parse(stdout), { outcome: 'hit' });
  t.equal(statSync(join(target, 'deps', 'zeros.bin')).size, size, 'restored whole');
  t.ok(peak < 512 * 1024 ** 2, `peak RSS ${(peak / 1024 ** 2).toFixed(0)} MiB (3.9 GiB before, for a part declaring that much)`);
});

t.test('a part whose download is too big for memory streams through a worker, and restores byte for byte', async (t) => {
  const { url } = await startServer(t);
  const source = tempDir(t, 'big-src');
  mkdirSync(join(source, 'deps'));
  // Incompressible, so its part stays over the limit compressed too.
  writeFileSync(join(source, 'deps', 'model.bin'), pseudoRandom('streamed', IN_MEMORY_PART_LIMIT + 1024 * 1024));
  writeFileSync(join(source, 'deps', 'index.js'), 'module.exports = 1;\n');
  const saved = await runLarder(['save', '--key', 'big', '--path', 'deps', '--json'], { cwd: source, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved', parts: 2 }, saved.stderr);
  t.ok(JSON.parse(saved.stdout).transferredBytes > IN_MEMORY_PART_LIMIT, 'its part is over the limit on the wire');

  const target = tempDir(t, 'big-dst');
  const restored = await runLarder(['restore', '--key', 'big', '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url, LARDER_LOCAL_CACHE: '0' } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit' }, restored.stderr);
  t.ok(readFileSync(join(target, 'deps', 'model.bin')).equals(readFileSync(join(source, 'deps', 'model.bin'))), 'the file, byte for byte');
  t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(source, 'deps')), 'and the tree');
});

t.test('under a umask of 077 a restore still gives every folder and file the mode it was saved with', async (t) => {
  const { url } = await startServer(t);
  const source = tempDir(t, 'umask-src');
  const deps = join(source, 'deps');
  buildSampleTree(deps);
  mkdirSync(join(deps, 'open/inner'), { recursive: true });
  mkdirSync(join(deps, 'private'));
  writeFileSync(join(deps, 'open/inner/run.sh'), '#!/bin/sh\n');
  writeFileSync(join(deps, 'private/key.pem'), 'secret\n');
  for (const [rel, mode] of [['open', 0o755], ['open/inner', 0o755], ['open/inner/run.sh', 0o755], ['private', 0o700], ['private/key.pem', 0o600]] as const) chmodSync(join(deps, rel), mode);
  const saved = await runLarder(['save', '--key', 'modes', '--path', 'deps', '--json'], { cwd: source, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' }, saved.stderr);

  // A folder an extraction makes gets 0755 less the umask: here 0700, so 0755 must still be set.
  const target = tempDir(t, 'umask-dst');
  const restored = await runProcess('sh', ['-c', `umask 077 && exec "${process.execPath}" "${LARDER_BIN}" restore --key modes --path deps --json 2>/dev/null`], { cwd: target, env: { PATH: process.env.PATH, HOME: target, LARDER_SERVER: url, LARDER_LOCAL_CACHE: '0' } });
  t.match(JSON.parse(restored.out), { outcome: 'hit' });
  t.same(snapshotTree(join(target, 'deps')), snapshotTree(deps), 'every mode, folders and files, as saved');
});

t.test('a restore of the entry a folder already holds, untouched, is a no-op; a touched folder is restored again', async (t) => {
  const { url, app } = await startServer(t);
  const project = tempDir(t, 'up-to-date');
  buildSampleTree(join(project, 'deps'));
  const env = { LARDER_SERVER: url, LARDER_CACHE_DIR: join(project, '.larder-cache') };
  const json = async (args: string[]) => {
    const res = await runLarder([...args, '--json', '--strict'], { cwd: project, env });
    t.equal(res.code, 0, res.stderr);
    return { report: JSON.parse(res.stdout) as { outcome: string; upToDate?: number; transferredBytes: number; files: number }, stderr: res.stderr };
  };
  await json(['save', '--key', 'deps-a', '--path', 'deps']);
  const bytesOut = async () => ((await app.inject({ url: '/v1/stats' })).json() as { namespaces: Record<string, { bytesOut: number }> }).namespaces.default?.bytesOut ?? 0;
  const before = { ino: statSync(join(project, 'deps')).ino, out: await bytesOut(), tree: snapshotTree(join(project, 'deps')) };

  const again = await json(['restore', '--key', 'deps-a', '--path', 'deps']);
  t.match(again.stderr, /exact hit deps-a: already up to date \(\d+ files unchanged, nothing downloaded\)/);
  t.match(again.report, { outcome: 'hit', upToDate: 1, transferredBytes: 0 });
  t.equal(statSync(join(project, 'deps')).ino, before.ino, 'the folder was left in place');
  t.equal(await bytesOut(), before.out, 'no part was downloaded');

  // One byte rewritten (same size): the folder no longer holds the entry as it was.
  const { writeFileSync, readFileSync } = await import('node:fs');
  const file = join(project, 'deps', before.tree.find((e) => e.type === 'file')?.rel ?? '');
  const content = readFileSync(file);
  content[0] = (content[0] ?? 0) ^ 1;
  writeFileSync(file, content);
  const touched = await json(['restore', '--key', 'deps-a', '--path', 'deps']);
  t.match(touched.report, { outcome: 'hit', upToDate: 0 });
  t.ok(touched.report.transferredBytes > 0 && (await bytesOut()) > before.out, 'restored again, downloading');
  t.same(snapshotTree(join(project, 'deps')), before.tree, 'as saved');
  const settled = await json(['restore', '--key', 'deps-a', '--path', 'deps']);
  t.match(settled.report, { upToDate: 1, transferredBytes: 0 }, 'and up to date after that');
});

t.test('the up-to-date check, shared between threads for a wide folder, still sees a change in any share', async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'wide');
  const { writeFileSync } = await import('node:fs');
  // 120 packages: the check splits them between this thread and the part workers, which
  // a tree of a few MB does without (SMALL_TREE_BYTES): this one is bigger.
  for (let i = 0; i < 120; i++) {
    mkdirSync(join(project, 'deps', `pkg-${i}`, 'lib'), { recursive: true });
    writeFileSync(join(project, 'deps', `pkg-${i}`, 'lib', 'index.js'), `module.exports = ${i};`);
  }
  writeFileSync(join(project, 'deps', 'blob.bin'), (await import('node:crypto')).randomBytes(SMALL_TREE_BYTES + (1 << 20)));
  const env = { LARDER_SERVER: url, LARDER_CACHE_DIR: join(project, '.larder-cache') };
  const restore = async () => {
    const res = await runLarder(['restore', '--key', 'wide', '--path', 'deps', '--json', '--strict'], { cwd: project, env });
    t.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as { upToDate: number; transferredBytes: number };
  };
  t.equal((await runLarder(['save', '--key', 'wide', '--path', 'deps', '--strict'], { cwd: project, env })).code, 0);
  t.match(await restore(), { upToDate: 1, transferredBytes: 0 }, 'untouched: up to date');
  for (const i of [0, 1, 2, 119]) {
    await new Promise((resolve) => setTimeout(resolve, 15)); // a ctime after the record's
    writeFileSync(join(project, 'deps', `pkg-${i}`, 'lib', 'index.js'), `module.exports = -${i};`);
    const again = await restore();
    t.equal(again.upToDate, 0, `a change in pkg-${i} is seen`);
    t.ok(again.transferredBytes > 0);
  }
});

t.test('a tree of a few MB is written on this thread, a bigger one by worker threads, and both restore whole', async (t) => {
  const { url } = await startServer(t);
  const { writeFileSync } = await import('node:fs');
  const { randomBytes } = await import('node:crypto');
  const source = tempDir(t, 'sizes');
  buildSampleTree(join(source, 'small'));
  buildSampleTree(join(source, 'big'));
  writeFileSync(join(source, 'big', 'blob.bin'), randomBytes(SMALL_TREE_BYTES + (1 << 20)));
  for (const path of ['small', 'big']) t.equal((await runLarder(['save', '--key', path, '--path', path, '--strict'], { cwd: source, env: { LARDER_SERVER: url } })).code, 0);
  for (const [path, threads] of [['small', false], ['big', true]] as const) {
    const client = new CacheClient({ server: url, namespace: 'default' });
    const workers = new PartWorkers(2, { server: url, namespace: 'default' });
    t.teardown(() => Promise.all([workers.terminate(), client.close()]));
    const target = tempDir(t, `restore-${path}`);
    const report = await restore(client, workers, { key: path, restoreKeys: [], paths: [path], cwd: target, home: target, cacheDir: join(target, '.cache'), concurrency: 2, log: () => {} });
    t.match(report, { outcome: 'hit' });
    t.same(snapshotTree(join(target, path)), snapshotTree(join(source, path)), `${path}: restored whole`);
    t.equal(workers.threads > 0, threads, `${path}: ${threads ? 'worker threads' : 'no worker thread'}`);
  }
});
