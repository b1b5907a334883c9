import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildClientPackage } from '../client/package/build.ts';
import { type Timed, timed } from './measure.ts';
import type { BenchServer } from './server.ts';

// The real larder CLI as the benchmark runs it: the client package, as users install
// it (bundled JavaScript; the sources' CLI strips types at every start), built once per
// run; --strict, so a cache failure fails the run instead of timing a warning; and, like
// a fresh CI runner, with an empty cache folder each time (the corpora are saved again
// and again under other keys, which a runner that remembered would rightly refuse).

/** The sources' CLI (start-up rows measure it beside the package). */
export const LARDER = fileURLToPath(new URL('../bin/larder.js', import.meta.url));

export const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

let built: Promise<string> | undefined;

/** The client package's larder.js, built on first use into a folder removed when the run ends. */
export function clientPackage(): Promise<string> {
  built ??= (async () => {
    const out = mkdtempSync(join(tmpdir(), 'larder-bench-package-'));
    process.once('exit', () => rmSync(out, { recursive: true, force: true }));
    log('building the client package');
    await buildClientPackage(out);
    return join(out, 'client', 'larder.js');
  })();
  return built;
}

/** Runs the CLI against `server`, in `namespace` (blobs are kept per namespace: a new one holds none). */
export async function larder(args: string[], cwd: string, server: BenchServer, namespace = 'bench'): Promise<Timed> {
  const client = await clientPackage();
  const cacheDir = mkdtempSync(join(tmpdir(), 'larder-bench-client-'));
  try {
    return await timed(process.execPath, [client, ...args, '--strict'], { cwd, env: { LARDER_SERVER: server.url, LARDER_NAMESPACE: namespace, LARDER_CACHE_DIR: cacheDir, LARDER_LOCAL_CACHE: '0' }, watchRss: true });
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
