import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { storedBlocks } from '../../../client/archive/stored.ts';
import { runLarder } from '../../helpers/cli.ts';
import { startServer } from '../../helpers/server.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../../helpers/trees.ts';

// A developer's machine: what it saved or restored once, it restores again without
// downloading, verified like a download; and with the server gone, from what it has.

t.test('the local part cache: no download for parts this machine has, a corrupt one fetched again, offline restores', async (t) => {
  const { url, app } = await startServer(t);
  const home = tempDir(t, 'developer');
  const project = join(home, 'project');
  buildSampleTree(join(project, 'deps'));
  // A jar's bytes: a part stored, not compressed, which leaves as pieces of its tar memory (client/archive/stored.ts).
  mkdirSync(join(project, 'deps', 'vendor'));
  writeFileSync(join(project, 'deps', 'vendor', 'lib.jar'), randomBytes(6 << 20));
  const want = snapshotTree(join(project, 'deps'));
  const env = { LARDER_SERVER: url, HOME: home, LARDER_LOCAL_CACHE: '1' };
  const larder = async (args: string[], cwd = project) => {
    const res = await runLarder([...args, '--json'], { cwd, env });
    t.equal(res.code, 0, res.stderr);
    return { report: JSON.parse(res.stdout.trim().split('\n').pop() ?? '{}') as { outcome: string; match?: string; transferredBytes: number }, stderr: res.stderr, stdout: res.stdout };
  };
  const served = async () => ((await app.inject({ url: '/v1/stats' })).json() as { namespaces: Record<string, { bytesOut: number }> }).namespaces.default?.bytesOut ?? 0;

  await larder(['save', '--key', 'deps-a', '--path', 'deps']);
  const info = JSON.parse((await larder(['cache', 'info'])).stdout) as { on: boolean; parts: number; entries: number };
  t.ok(info.on && info.parts > 0 && info.entries === 1, 'the save kept its parts and manifest');
  const kept = readdirSync(join(home, '.cache', 'larder', 'parts'), { recursive: true, withFileTypes: true }).filter((e) => e.isFile() && !e.name.endsWith('.list'));
  const storedParts = kept.filter((e) => {
    const bytes = readFileSync(join(e.parentPath, e.name));
    return bytes.length >= 10 && storedBlocks(bytes, bytes.readUInt32LE(6)) !== undefined; // a stored frame declares its size at byte 6
  });
  t.equal(storedParts.length, 1, 'the jar\'s part was kept as a stored frame, its pieces in a row');

  const fresh = tempDir(t, 'fresh-checkout');
  const restored = await larder(['restore', '--key', 'deps-a', '--path', 'deps'], fresh);
  t.equal(restored.report.outcome, 'hit');
  t.equal(await served(), 0, 'nothing downloaded: every part was here');
  t.equal(restored.report.transferredBytes, 0, 'and the report says so');
  t.match(restored.stderr, /, 0\.0 MB downloaded\)/);
  t.same(snapshotTree(join(fresh, 'deps')), want);

  // A part damaged on this disk is found out before anything is written, and fetched again.
  const parts = join(home, '.cache', 'larder', 'parts');
  const shard = readdirSync(parts)[0] as string;
  const file = join(parts, shard, readdirSync(join(parts, shard))[0] as string);
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] = (bytes[bytes.length >> 1] ?? 0) ^ 0xff;
  writeFileSync(file, bytes);
  const healed = tempDir(t, 'healed');
  await larder(['restore', '--key', 'deps-a', '--path', 'deps'], healed);
  t.ok((await served()) > 0, 'the damaged part was downloaded');
  t.same(snapshotTree(join(healed, 'deps')), want, 'and the tree is whole');
  t.not(readFileSync(file).equals(bytes), true, 'the local copy was replaced');

  // The server goes away (a train, a VPN drop).
  await app.close();
  const offline = tempDir(t, 'offline');
  const exact = await larder(['restore', '--key', 'deps-a', '--path', 'deps'], offline);
  t.match(exact.stderr, /the server is unreachable \(LARDER_UNREACHABLE\); restoring deps-a from the local cache/);
  t.match(exact.report, { outcome: 'hit', match: 'exact' });
  t.same(snapshotTree(join(offline, 'deps')), want);
  const prefix = tempDir(t, 'offline-prefix');
  const byPrefix = await larder(['restore', '--key', 'deps-b', '--restore-key', 'deps-', '--path', 'deps'], prefix);
  t.match(byPrefix.report, { outcome: 'hit', match: 'prefix' }, 'a restore key finds the newest local entry');

  const pruned = await runLarder(['cache', 'prune', '--max-size', '0'], { cwd: project, env });
  t.match(pruned.stdout, /^larder cache: removed [1-9]\d* part\(s\), [\d.]+ GiB; 0 part\(s\), 0\.00 GiB left \(cap 0\.00 GiB\)\n$/);
  const empty = tempDir(t, 'offline-empty');
  const nothing = await larder(['restore', '--key', 'deps-a', '--path', 'deps'], empty);
  t.equal(nothing.report.outcome, 'error', 'with no parts left, offline is a cache failure, and the build goes on');
});

t.test('under CI=true the local cache is off unless asked for', async (t) => {
  const home = tempDir(t, 'runner');
  const off = await runLarder(['cache', 'info'], { cwd: home, env: { CI: 'true', LARDER_LOCAL_CACHE: '' } });
  t.match(off.stdout, /state +off \(CI=true; LARDER_LOCAL_CACHE=1 turns it on\)/);
  const on = await runLarder(['cache', 'info'], { cwd: home, env: { CI: 'true', LARDER_LOCAL_CACHE: '1' } });
  t.match(on.stdout, /state +on/);
  const developer = await runLarder(['cache', 'info'], { cwd: home, env: { LARDER_LOCAL_CACHE: '' } });
  t.match(developer.stdout, /state +on/, 'on by default elsewhere');
});

t.test('eviction goes by least recent use, and a read counts as use', async (t) => {
  const { partCacheInfo, prunePartCache, readLocalPart, storeLocalPart } = await import('../../../client/local/part-cache.ts');
  const { sha256Digest } = await import('../../../shared/wire/digest.ts');
  const { utimesSync } = await import('node:fs');
  const dir = tempDir(t, 'parts');
  const parts = ['first', 'second', 'third'].map((name, i) => {
    const bytes = Buffer.alloc(1000, i);
    const digest = sha256Digest(bytes);
    storeLocalPart(dir, digest, bytes);
    const hex = digest.slice('sha256:'.length);
    utimesSync(join(dir, hex.slice(0, 2), hex), 1_000_000 + i, 1_000_000 + i); // stored in this order, long ago
    return { name, ref: { digest, size: 1000, rawSize: 1000, entries: 1 } };
  });
  t.ok(readLocalPart(dir, parts[0]!.ref), 'the oldest is read, so now the most recent');
  t.same(prunePartCache(dir, 2000), { parts: 1, bytes: 1000 });
  t.notOk(readLocalPart(dir, parts[1]!.ref), 'the least recently used went');
  t.ok(readLocalPart(dir, parts[0]!.ref) && readLocalPart(dir, parts[2]!.ref), 'the others stay');
  t.same(partCacheInfo(dir), { parts: 2, bytes: 2000 });
  t.notOk(readLocalPart(dir, { ...parts[0]!.ref, size: 999 }), 'a part of another size is not this one');
});
