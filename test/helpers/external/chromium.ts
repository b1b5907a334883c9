import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { tempDir } from '../tmp.ts';

// Debian's headless Chromium, started as this machine's probe found works as root.

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
export const chromiumSkip = CHROMIUM ? false : 'no Chromium: test/run.sh installs Debian\'s chromium on Linux as root';

const run = promisify(execFile);

function flags(t: { teardown: (fn: () => void) => void }): string[] {
  return ['--headless', '--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync', `--user-data-dir=${tempDir(t, 'chromium')}`, '--virtual-time-budget=10000'];
}

/** The page's DOM after its scripts ran. */
export async function renderedDom(t: { teardown: (fn: () => void) => void }, url: string): Promise<string> {
  const { stdout } = await run(CHROMIUM as string, [...flags(t), '--dump-dom', url], { timeout: 60_000, maxBuffer: 16 << 20 });
  return stdout;
}

/** A PNG of the page, written to dir. */
export async function screenshot(t: { teardown: (fn: () => void) => void }, url: string, dir: string): Promise<string> {
  const file = join(dir, 'dashboard.png');
  await run(CHROMIUM as string, [...flags(t), '--window-size=1280,1000', `--screenshot=${file}`, url], { timeout: 60_000 });
  return file;
}
