import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest } from '../../shared/wire/manifest.ts';
import { KEY_PATTERN } from '../../shared/wire/names.ts';
import { writeWhole } from './write-whole.ts';

// Manifests of entries this machine restored or saved, per server and namespace, so a
// restore with the server unreachable (a train, a VPN drop) can still find the entry for
// its key, or the newest for a restore key, and restore it from the local parts.

function scopeDir(cacheDir: string, server: string, namespace: string): string {
  const scope = createHash('sha256').update(`${server}\0${namespace}`).digest('hex').slice(0, 16);
  return join(cacheDir, 'entries', scope);
}

export function rememberEntry(cacheDir: string, server: string, namespace: string, manifest: Manifest): void {
  if (!KEY_PATTERN.test(manifest.key)) return;
  // Its mtime says when this machine last had it: newest first. Not written, only the offline fallback is lost.
  writeWhole(join(scopeDir(cacheDir, server, namespace), `${manifest.key}.json`), JSON.stringify(manifest));
}

/** The entry for key, else the newest whose key starts with a restore key (in order); as a lookup would answer. */
export function localLookup(cacheDir: string, server: string, namespace: string, key: string, restoreKeys: string[]): { match: 'exact' | 'prefix'; key: string; entry: Manifest } | undefined {
  const dir = scopeDir(cacheDir, server, namespace);
  const read = (name: string): Manifest | undefined => {
    try {
      return JSON.parse(readFileSync(join(dir, `${name}.json`), 'utf8')) as Manifest;
    } catch {
      return undefined;
    }
  };
  const exact = read(key);
  if (exact?.key === key) return { match: 'exact', key, entry: exact };
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.json')).map((n) => n.slice(0, -'.json'.length));
  } catch {
    return undefined;
  }
  const mtime = (name: string) => {
    try {
      return statSync(join(dir, `${name}.json`)).mtimeMs;
    } catch {
      return 0;
    }
  };
  for (const prefix of restoreKeys) {
    const candidates = names.filter((n) => n.startsWith(prefix)).map((name) => ({ name, time: mtime(name) }));
    const newest = candidates.sort((a, b) => b.time - a.time)[0]?.name;
    const entry = newest === undefined ? undefined : read(newest);
    if (newest !== undefined && entry?.key === newest) return { match: 'prefix', key: newest, entry };
  }
  return undefined;
}

export function entryCacheCount(cacheDir: string): number {
  try {
    return readdirSync(join(cacheDir, 'entries')).reduce((n, scope) => n + readdirSync(join(cacheDir, 'entries', scope)).filter((f) => f.endsWith('.json')).length, 0);
  } catch {
    return 0;
  }
}
