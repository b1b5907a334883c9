import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

interface Teardown {
  teardown: (fn: () => void | Promise<void>) => void;
}

/** A fresh real folder, removed when the test ends. */
export function tempDir(t: Teardown, label = 'larder', parent = tmpdir()): string {
  const dir = mkdtempSync(join(parent, `${label}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}
