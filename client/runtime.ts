import { spawnSync } from 'node:child_process';
import { once } from './once.ts';

// Facts about the build machine that key templates can name. The toolchain versions
// are those of the commands on PATH (what the build will use), not of the Node that
// runs larder.

export interface RuntimeFacts {
  os: string;
  arch: string;
  libc: () => string;
  node: () => string;
  python: () => string;
  java: () => string;
}

export function detectRuntime(): RuntimeFacts {
  return {
    os: process.platform,
    arch: process.arch,
    libc: once(detectLibc),
    node: once(() => versionOf('node', ['--version'], /v?(\d+)\./)),
    python: once(() => versionOf('python3', ['--version'], /Python (\d+\.\d+)/)),
    java: once(() => versionOf('java', ['-version'], /version "(?:1\.)?(\d+)/)),
  };
}

function detectLibc(): string {
  if (process.platform !== 'linux') return 'none';
  const header = (process.report.getReport() as { header?: { glibcVersionRuntime?: string } }).header;
  return header?.glibcVersionRuntime ? 'glibc' : 'musl';
}

/** The first capture of `pattern` in the command's output, or 'none' when it is not installed. */
function versionOf(command: string, args: string[], pattern: RegExp): string {
  const result = spawnSync(command, args, { encoding: 'utf8', timeout: 10_000 });
  if (result.error || result.status !== 0) return 'none';
  return pattern.exec(`${result.stdout}\n${result.stderr}`)?.[1] ?? 'none';
}
