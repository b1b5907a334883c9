import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { LARDER_VERSION } from '../../shared/version.ts';

// npm run build:executable → dist/larder-<platform>-<arch>: the client as one file that
// runs where there is no Node at all (a Maven or pip image). It is Node's own single
// executable application: this Node's binary with the bundled client (CommonJS, which
// Node 22's SEA runs) and the part worker's code as an asset, injected with postject.
// Build it on the platform it is for (the recipe for others: docs/client.md).

const REPO = fileURLToPath(new URL('../../', import.meta.url));

export function executableName(platform = process.platform, arch = process.arch): string {
  return `larder-${platform}-${arch}`;
}

/** Builds into out (default dist/): out/larder-<platform>-<arch>, whose path it returns. */
export async function buildExecutable(out = join(REPO, 'dist')): Promise<string> {
  const WORK = join(out, 'sea');
  rmSync(WORK, { recursive: true, force: true });
  mkdirSync(WORK, { recursive: true });
  const common = {
    bundle: true,
    format: 'cjs' as const,
    platform: 'node' as const,
    target: 'node22',
    minifySyntax: true,
    define: { __LARDER_VERSION__: JSON.stringify(LARDER_VERSION), __LARDER_SEA__: 'true', 'import.meta.url': '"file:///larder-executable/"' },
    logLevel: 'error' as const,
  };
  await build({ ...common, entryPoints: [join(REPO, 'client/package/sea-main.ts')], outfile: join(WORK, 'larder.cjs') });
  await build({ ...common, entryPoints: [join(REPO, 'client/workers/part-worker.ts')], outfile: join(WORK, 'part-worker.js') });
  const config = join(WORK, 'sea-config.json');
  writeFileSync(config, JSON.stringify({ main: join(WORK, 'larder.cjs'), output: join(WORK, 'sea-prep.blob'), disableExperimentalSEAWarning: true, useCodeCache: true, assets: { 'part-worker.js': join(WORK, 'part-worker.js') } }));
  execFileSync(process.execPath, ['--experimental-sea-config', config], { stdio: ['ignore', 'ignore', 'inherit'] });
  const output = join(out, executableName());
  rmSync(output, { force: true });
  copyFileSync(process.execPath, output);
  chmodSync(output, 0o755);
  const postject = join(REPO, 'node_modules', 'postject', 'dist', 'cli.js');
  // postject warns about ELF note sections it leaves alone; only a failure is worth showing.
  try {
    execFileSync(process.execPath, [postject, output, 'NODE_SEA_BLOB', join(WORK, 'sea-prep.blob'), '--sentinel-fuse', 'NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2'], { stdio: 'pipe' });
  } catch (err) {
    throw new Error(`postject failed: ${String((err as { stderr?: Buffer }).stderr ?? err)}`);
  }
  return output;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  console.log(await buildExecutable());
}
