import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

// npm run build:client → dist/client/ (the package's files) and dist/larder-<version>.tgz.
// esbuild bundles the client and the few modules it uses (tar's header code, xxhash-wasm,
// the Node 20 zstd) into plain JavaScript: Node strips no types below node_modules, and a
// package with no dependencies installs in one step from the tarball alone. Code
// splitting keeps each command loading only its own code, as from the sources.

const REPO = fileURLToPath(new URL('../../', import.meta.url));

/** Builds into out (default dist/): out/client/ and out/larder-<version>.tgz, whose path it returns. */
export async function buildClientPackage(out = join(REPO, 'dist')): Promise<string> {
  const CLIENT_DIST = join(out, 'client');
  const { version, license } = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { version: string; license: string };
  rmSync(CLIENT_DIST, { recursive: true, force: true });
  mkdirSync(CLIENT_DIST, { recursive: true });
  await build({
    entryPoints: { larder: join(REPO, 'client/package/main.ts'), 'part-worker': join(REPO, 'client/workers/part-worker.ts') },
    outdir: CLIENT_DIST,
    bundle: true,
    splitting: true,
    format: 'esm',
    platform: 'node',
    target: 'node20.17',
    chunkNames: 'chunk-[hash]',
    minifySyntax: true,
    legalComments: 'linked',
    define: { __LARDER_VERSION__: JSON.stringify(version) },
    banner: { js: "import { createRequire as __larderRequire } from 'node:module'; const require = __larderRequire(import.meta.url);" },
    logLevel: 'warning',
  });
  // The entry runs as a command: a shebang of its own.
  const entry = join(CLIENT_DIST, 'larder.js');
  writeFileSync(entry, `#!/usr/bin/env node\n${readFileSync(entry, 'utf8')}`, { mode: 0o755 });
  writeFileSync(
    join(CLIENT_DIST, 'package.json'),
    `${JSON.stringify({ name: 'larder', version, description: 'larder build cache client: save and restore node_modules, .venv and ~/.m2 in seconds', license, type: 'module', bin: { larder: 'larder.js' }, engines: { node: '>=20.17' } }, null, 2)}\n`,
  );
  copyFileSync(join(REPO, 'client/package/README.md'), join(CLIENT_DIST, 'README.md'));
  const packed = execFileSync('npm', ['pack', '--silent', '--pack-destination', out], { cwd: CLIENT_DIST, encoding: 'utf8' }).trim().split('\n').pop() ?? '';
  return join(out, packed);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const tarball = await buildClientPackage();
  console.log(tarball);
}
