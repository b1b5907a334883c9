import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { zstdCompressSync } from 'node:zlib';
import t from 'tap';
import { request } from 'undici';
import { sha256Digest } from '../../shared/digest.ts';
import type { Manifest } from '../../shared/manifest.ts';
import { runLarder } from '../helpers/cli.ts';
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
