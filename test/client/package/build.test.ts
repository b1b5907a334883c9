import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import t from 'tap';
import { IN_MEMORY_RAW_LIMIT } from '../../../client/archive/pack.ts';
import { buildClientPackage } from '../../../client/package/build.ts';
import { runProcess as run } from '../../helpers/cli.ts';
import { startServer } from '../../helpers/server.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { wordyText } from '../../helpers/text.ts';
import { nodeOfMajor, versionOf } from '../../helpers/external/node-versions.ts';
import { buildSampleTree, snapshotTree } from '../../helpers/trees.ts';

// The client as users install it: the packed tarball, `npm i -g` into a fresh prefix, the
// `larder` on PATH, on every maintained Node: 20 (no zstd in node:zlib, no fs.globSync),
// the pinned 22, and 24. What one saves, another restores, byte for byte, including a
// part too big for memory (the streaming codecs); and every part built in memory is the
// same blob whichever Node built it (Node 20's wasm libzstd and node:zlib's kept context
// both compress a part in one pass), so their saves share blobs.


t.test('the package installs with npm i -g, small and dependency-free, and works on Node 20, 22 and 24', async (t) => {
  const out = tempDir(t, 'package');
  const tarball = await buildClientPackage(out);
  t.ok(statSync(tarball).size < 10 * 1024 * 1024, `the tarball is ${statSync(tarball).size} bytes, under 10 MB`);
  const manifest = JSON.parse(readFileSync(join(out, 'client', 'package.json'), 'utf8')) as Record<string, unknown>;
  t.same([manifest.name, manifest.bin, manifest.dependencies], ['larder', { larder: 'larder.js' }, undefined], 'named larder, a larder command, no dependencies');

  const prefix = tempDir(t, 'prefix');
  const installed = await run('npm', ['i', '-g', '--prefix', prefix, '--offline', '--no-audit', '--no-fund', tarball], { cwd: out, env: process.env });
  t.equal(installed.code, 0, installed.out);

  const { url } = await startServer(t);
  const project = tempDir(t, 'project');
  const tree = join(project, 'deps');
  buildSampleTree(tree);
  // One file over 64 MiB makes a part that streams as it is saved, and as it is restored
  // on Node 20, whose codec decodes a part whole (compressible, not trivially).
  const big = Buffer.alloc(70 * 1024 * 1024);
  for (let i = 0; i < big.length; i += 4096) createHash('sha256').update(String(i % 8192)).digest().copy(big, i);
  writeFileSync(join(tree, 'big.bin'), big);
  // And one of varied text, whose part zstd compresses to other bytes in 16 KiB steps than in one pass.
  writeFileSync(join(tree, 'words.txt'), wordyText(6 * 1024 * 1024));
  writeFileSync(join(project, 'lock.json'), '{"v":1}');
  const want = JSON.stringify(snapshotTree(tree));

  const nodes = [20, 22, 24].map((major) => ({ major, node: major === 22 ? process.execPath : nodeOfMajor(major) }));
  for (const { major, node } of nodes) {
    // `larder` on PATH, run by the `node` first on PATH, as after a global install on that Node.
    const bin = tempDir(t, `bin-${major}`);
    mkdirSync(bin, { recursive: true });
    // The local part cache off: every restore decompresses what the server sends.
    const env = { PATH: `${bin}:${join(prefix, 'bin')}:${dirname(node)}:/usr/bin:/bin`, HOME: project, LARDER_SERVER: url, LARDER_CACHE_DIR: join(project, `cache-${major}`), LARDER_LOCAL_CACHE: '0' };
    await run('ln', ['-s', node, join(bin, 'node')], { cwd: project, env: process.env });
    t.match((await run('node', ['--version'], { cwd: project, env })).out, new RegExp(`^v${major}\\.`), `node ${versionOf(node)} on PATH`);
    const version = await run('larder', ['--version'], { cwd: project, env });
    t.equal(version.out.trim(), `larder ${JSON.parse(readFileSync(join(out, 'client', 'package.json'), 'utf8')).version}`, `--version on Node ${major}`);

    const key = `deps-node${major}-{hash:lock.json}`;
    const saved = await run('larder', ['save', '--key', key, '--path', 'deps', '--strict'], { cwd: project, env });
    t.equal(saved.code, 0, saved.out);
    t.notMatch(saved.out, /Warning|warning/, `no warnings on Node ${major}`);
    // Restored by every Node, including the one that saved it.
    for (const other of nodes) {
      const otherEnv = { ...env, PATH: `${join(prefix, 'bin')}:${dirname(other.node)}:/usr/bin:/bin` };
      await run('rm', ['-rf', tree], { cwd: project, env: process.env });
      const restored = await run(other.node, [join(prefix, 'bin', 'larder'), 'restore', '--key', key, '--path', 'deps', '--strict'], { cwd: project, env: otherEnv });
      t.equal(restored.code, 0, restored.out);
      t.equal(JSON.stringify(snapshotTree(tree)), want, `saved on Node ${major}, restored on Node ${other.major}: the same tree`);
    }
  }

  const listed = (await (await fetch(`${url}/v1/ns/default/entries?prefix=deps-node&limit=10`)).json()) as { entries: Array<{ key: string }> };
  const inMemoryParts = await Promise.all(
    nodes.map(async ({ major }) => {
      const key = listed.entries.find((e) => e.key.startsWith(`deps-node${major}-`))?.key;
      const manifest = (await (await fetch(`${url}/v1/ns/default/entries/${key}`)).json()) as { paths: Array<{ parts: Array<{ digest: string; rawSize: number }> }> };
      // A part over the in-memory limit (the big file) streams, and a stream's frames may differ between codecs.
      return manifest.paths.flatMap((p) => p.parts).filter((part) => part.rawSize <= IN_MEMORY_RAW_LIMIT).map((part) => part.digest);
    }),
  );
  t.ok((inMemoryParts[0]?.length ?? 0) > 0, 'parts built in memory');
  for (const [i, { major }] of nodes.entries()) t.same(inMemoryParts[i], inMemoryParts[1], `Node ${major} stored the same blobs as Node 22`);
});
