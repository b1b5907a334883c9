import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pseudoRandom } from '../../bench/corpora.ts';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { snapshotTree } from '../helpers/trees.ts';

// One corrupt blob must not poison a key forever: a restore that meets it fails (and
// leaves the target as it was), the server confirms and removes it, and the next save
// of the tree uploads it again. A truncated blob counts as missing for any save that
// needs it, and its verified upload replaces it.

function blobFiles(storeDir: string): string[] {
  return execFileSync('find', [join(storeDir, 'v1'), '-path', '*/blobs/*', '-type', 'f']).toString().trim().split('\n').sort();
}

t.test('a flipped byte is removed by the server and healed by the next save; a truncated blob is never reused', async (t) => {
  const { url, storeDir } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const project = tempDir(t, 'project');
  mkdirSync(join(project, 'deps'));
  for (let i = 0; i < 4; i++) writeFileSync(join(project, 'deps', `lib-${i}.bin`), pseudoRandom(`lib-${i}`, 3 * 1024 * 1024));
  const saved = JSON.parse((await runLarder(['save', '--key', 'k1', '--path', 'deps', '--json'], { cwd: project, env })).stdout);
  t.ok(saved.parts >= 2, `${saved.parts} parts`);

  const [flipped, truncated] = blobFiles(storeDir) as [string, string];
  const bytes = readFileSync(flipped);
  bytes.writeUInt8(bytes.readUInt8(bytes.length >> 1) ^ 0xff, bytes.length >> 1);
  writeFileSync(flipped, bytes);

  const target = tempDir(t, 'target');
  writeFileSync(join(target, 'keep'), 'the target as it was');
  const broken = await runLarder(['restore', '--key', 'k1', '--path', 'deps', '--json'], { cwd: target, env });
  t.match(JSON.parse(broken.stdout), { outcome: 'error', error: { code: 'LARDER_INTEGRITY' } });
  t.match(broken.stderr, /the server found its copy corrupt and removed it; the next save uploads it again/);
  t.same(snapshotTree(target).map((e) => e.rel), ['keep'], 'the target is as it was');

  // The same key saved again: its entry is whole once more.
  const healed = await runLarder(['save', '--key', 'k1', '--path', 'deps', '--json'], { cwd: project, env });
  t.match(healed.stderr, /k1 is saved, but 1 of its parts are gone from the store; uploading them again/);
  t.ok(JSON.parse(healed.stdout).transferredBytes > 0);
  const whole = await runLarder(['restore', '--key', 'k1', '--path', 'deps', '--json'], { cwd: target, env });
  t.match(JSON.parse(whole.stdout), { outcome: 'hit', match: 'exact' }, whole.stderr);
  t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(project, 'deps')));

  // A truncated blob: a save of the same tree under another key does not reuse it.
  truncateSync(truncated, 1000);
  const other = JSON.parse((await runLarder(['save', '--key', 'k2', '--path', 'deps', '--json'], { cwd: tempCopy(t, project), env })).stdout);
  t.match(other, { outcome: 'saved', partsReused: saved.parts - 1 }, 'every part but the truncated one reused');
  t.ok(readFileSync(truncated).length > 1000, 'the truncated blob was replaced by a verified upload');
  for (const key of ['k1', 'k2']) {
    const into = tempDir(t, `restore-${key}`);
    const restored = await runLarder(['restore', '--key', key, '--path', 'deps', '--json'], { cwd: into, env });
    t.match(JSON.parse(restored.stdout), { outcome: 'hit' }, `${key}: ${restored.stderr}`);
  }
});

/** The project's tree, installed again elsewhere (so no record says it was saved as k1). */
function tempCopy(t: Parameters<typeof tempDir>[0], project: string): string {
  const copy = tempDir(t, 'copy');
  execFileSync('cp', ['-a', join(project, 'deps'), join(copy, 'deps')]);
  return copy;
}

t.test('a blob that arrived damaged but is intact on the server stays', async (t) => {
  const { url, storeDir } = await startServer(t);
  const digest = `sha256:${'0'.repeat(64)}`;
  const check = await fetch(`${url}/v1/ns/default/blobs/${digest}/verify`, { method: 'POST' });
  t.equal(check.status, 404, 'an absent blob is not found');
  const data = Buffer.from('an intact part');
  const { sha256Digest } = await import('../../shared/wire/digest.ts');
  const good = sha256Digest(data);
  await fetch(`${url}/v1/ns/default/blobs/${good}`, { method: 'PUT', body: data, headers: { 'content-type': 'application/octet-stream' } });
  t.same(await (await fetch(`${url}/v1/ns/default/blobs/${good}/verify`, { method: 'POST' })).json(), { digest: good, intact: true });
  t.equal(blobFiles(storeDir).length, 1, 'still stored');
});
