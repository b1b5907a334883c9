import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import t from 'tap';
import { request } from 'undici';
import { sha256Digest } from '../../shared/digest.ts';
import type { Manifest } from '../../shared/manifest.ts';
import { watchRss } from '../../bench/measure.ts';
import { LARDER_BIN, runLarder } from '../helpers/cli.ts';
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
  const child = spawn(process.execPath, [LARDER_BIN, 'restore', '--key', 'huge', '--path', 'deps', '--json'], { cwd: target, env: { PATH: process.env.PATH, HOME: target, LARDER_SERVER: url } });
  const rss = watchRss(child);
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d));
  await once(child, 'exit');
  const peak = rss.stop();
  t.match(JSON.parse(stdout), { outcome: 'hit' });
  t.equal(statSync(join(target, 'deps', 'zeros.bin')).size, size, 'restored whole');
  t.ok(peak < 512 * 1024 ** 2, `peak RSS ${(peak / 1024 ** 2).toFixed(0)} MiB (3.9 GiB before, for a part declaring that much)`);
});
