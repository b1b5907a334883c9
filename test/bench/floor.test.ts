import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sha256Digest } from '../../shared/wire/digest.ts';
import { floorRestore, floorSave } from '../../bench/floor.ts';
import { startBareReceiver } from '../../bench/server.ts';
import { tempDir } from '../helpers/tmp.ts';

// The floor's pipelines, for real: tar, zstd, sha256sum and curl against the bare receiver.

/** A small tree with a file bigger than a pipe's buffer, and the archive `tar | zstd -T0 -3` makes of it. */
function project(t: Parameters<typeof tempDir>[0]): { dir: string; archive: Buffer } {
  const dir = tempDir(t, 'floor-project');
  mkdirSync(join(dir, 'tree', 'sub'), { recursive: true });
  writeFileSync(join(dir, 'tree', 'big.bin'), randomBytes(3 * 1024 * 1024));
  writeFileSync(join(dir, 'tree', 'sub', 'text.txt'), 'hello floor\n'.repeat(5000));
  const archive = execFileSync('bash', ['-c', 'tar -cf - tree | zstd -T0 -3 -q'], { cwd: dir, maxBuffer: 64 * 1024 * 1024 });
  return { dir, archive };
}


t.test('the save floor sends the very bytes of the native archive, and fails on any others', async (t) => {
  const { dir, archive } = project(t);
  const received = tempDir(t, 'received');
  const bare = await startBareReceiver(received);
  t.teardown(bare.stop);
  const run = await floorSave(dir, 'tree', bare.url, sha256Digest(archive));
  t.ok(run.cpuSeconds > 0, 'its pipeline’s CPU is counted');
  const [name, ...more] = readdirSync(received);
  t.same(more, []);
  t.ok(readFileSync(join(received, name as string)).equals(archive), 'the receiver wrote the native archive’s bytes');
  await t.rejects(floorSave(dir, 'tree', bare.url, sha256Digest(Buffer.from('other'))), /exited with 22/, 'a refused upload fails the run');
});

t.test('the restore floor downloads, hashes and unpacks the archive the receiver sends', async (t) => {
  const { dir, archive } = project(t);
  const served = tempDir(t, 'served');
  writeFileSync(join(served, 'tree.tar.zst'), archive);
  const bare = await startBareReceiver(tempDir(t, 'received'), served);
  t.teardown(bare.stop);
  const into = tempDir(t, 'restored');
  await floorRestore(into, bare.url, 'tree.tar.zst');
  t.ok(readFileSync(join(into, 'tree', 'big.bin')).equals(readFileSync(join(dir, 'tree', 'big.bin'))));
  t.equal(readFileSync(join(into, 'tree', 'sub', 'text.txt'), 'utf8'), readFileSync(join(dir, 'tree', 'sub', 'text.txt'), 'utf8'));
  await t.rejects(floorRestore(tempDir(t, 'nothing'), bare.url, 'missing.tar.zst'), /exited with/, 'a file the receiver does not have fails the run');
});
