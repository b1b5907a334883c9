import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Timed, timed } from './measure.ts';
import type { BenchServer } from './server.ts';

// The real larder CLI as the benchmark runs it: --strict, so a cache failure fails the
// run instead of timing a warning; and, like a fresh CI runner, with an empty cache
// folder each time (the corpora are saved again and again under other keys, which a
// runner that remembered would rightly refuse).

export const LARDER = fileURLToPath(new URL('../bin/larder.js', import.meta.url));

export const log = (line: string): void => void process.stderr.write(`[bench] ${line}\n`);

export async function larder(args: string[], cwd: string, server: BenchServer): Promise<Timed> {
  const cacheDir = mkdtempSync(join(tmpdir(), 'larder-bench-client-'));
  try {
    return await timed(process.execPath, [LARDER, ...args, '--strict'], { cwd, env: { LARDER_SERVER: server.url, LARDER_NAMESPACE: 'bench', LARDER_CACHE_DIR: cacheDir, LARDER_LOCAL_CACHE: '0' }, watchRss: true });
  } finally {
    rmSync(cacheDir, { recursive: true, force: true });
  }
}
