import { readdirSync, readFileSync, rmSync, statSync, unlinkSync, utimesSync } from 'node:fs';
import { join } from 'node:path';
import { digestHex } from '../../shared/wire/digest.ts';
import type { PartRef } from '../../shared/wire/manifest.ts';
import { safeRelativePath } from '../archive/safe-path.ts';
import type { Member } from '../archive/tar-read.ts';
import { linkWhole, writeWhole } from './write-whole.ts';

// Parts already seen, kept on this machine (LARDER_CACHE_DIR/parts), so switching back
// to a branch's tree downloads nothing. A part is stored under its SHA-256 exactly as the
// server holds it, written to a temp file and renamed into place (concurrent larder
// processes see a whole part or none), and verified like any download when it is used:
// a corrupt one is removed and downloaded again. Use refreshes a part's mtime, which is
// what eviction goes by (least recently used first).

export function partsDir(cacheDir: string): string {
  return join(cacheDir, 'parts');
}

function partFile(dir: string, digest: string): string {
  const hex = digestHex(digest);
  return join(dir, hex.slice(0, 2), hex);
}

/** The part's bytes when this machine has them (of the right size), else undefined. */
export function readLocalPart(dir: string, part: PartRef): Buffer | undefined {
  const file = partFile(dir, part.digest);
  try {
    if (statSync(file).size !== part.size) return undefined;
    const bytes = readFileSync(file);
    const now = new Date();
    utimesSync(file, now, now); // recently used
    return bytes;
  } catch {
    return undefined;
  }
}

/** Whether this machine has the part (of the right size), without reading it. */
export function hasLocalPart(dir: string, part: PartRef): boolean {
  try {
    return statSync(partFile(dir, part.digest)).size === part.size;
  } catch {
    return false;
  }
}

/** Keeps a part's bytes; a failure only costs the next restore a download. */
export function storeLocalPart(dir: string, digest: string, bytes: Buffer | readonly Buffer[]): void {
  writeWhole(partFile(dir, digest), bytes);
}

/** Keeps a part a save streamed to a file: a second name for it (no copy), put in place whole. */
export function storeLocalPartFile(dir: string, digest: string, file: string): void {
  linkWhole(partFile(dir, digest), file);
}

// Beside each part, its member list (`<digest>.list`), written when the part is
// extracted: a restore in place (client/local/reuse.ts) learns which files a part put in
// the folder without decompressing it. It goes with its part.
const LISTING = '.list';
const KINDS: Record<Member['kind'], string> = { file: 'f', dir: 'd', symlink: 's', hardlink: 'h' };
const KIND_OF = new Map(Object.entries(KINDS).map(([kind, letter]) => [letter, kind as Member['kind']]));

/** Keeps a part's member list; a failure only costs the next restore in place a decompression. */
export function storeListing(dir: string, digest: string, members: readonly Member[]): void {
  writeWhole(partFile(dir, digest) + LISTING, JSON.stringify(members.map((m) => KINDS[m.kind] + m.rel)));
}

/** The part's members as listed when it was extracted; undefined when there is no sound listing. */
export function readListing(dir: string, part: PartRef): Member[] | undefined {
  try {
    const lines = JSON.parse(readFileSync(partFile(dir, part.digest) + LISTING, 'utf8')) as unknown;
    if (!Array.isArray(lines) || lines.length !== part.entries) return undefined;
    return lines.map((line: unknown) => {
      const kind = typeof line === 'string' ? KIND_OF.get(line.charAt(0)) : undefined;
      const rel = (line as string).slice(1);
      // A listing names what a restore moves out of a folder: never a path that leaves it.
      if (kind === undefined || safeRelativePath(rel) !== rel) throw new Error('not a listing');
      return { rel, kind };
    });
  } catch {
    return undefined;
  }
}

export function forgetLocalPart(dir: string, digest: string): void {
  rmSync(partFile(dir, digest), { force: true });
  rmSync(partFile(dir, digest) + LISTING, { force: true });
}

export interface PartCacheInfo {
  parts: number;
  bytes: number;
}

interface Held {
  file: string;
  size: number;
  used: number;
}

function held(dir: string): Held[] {
  const found: Held[] = [];
  let shards: string[];
  try {
    shards = readdirSync(dir);
  } catch {
    return found;
  }
  for (const shard of shards) {
    let names: string[];
    try {
      names = readdirSync(join(dir, shard));
    } catch {
      continue;
    }
    for (const name of names) {
      const file = join(dir, shard, name);
      try {
        const info = statSync(file);
        // A temp file left by a killed process is swept once it is an hour old.
        if (name.endsWith('.tmp')) {
          if (Date.now() - info.mtimeMs > 3_600_000) unlinkSync(file);
          continue;
        }
        if (name.endsWith(LISTING)) continue;
        found.push({ file, size: info.size, used: info.mtimeMs });
      } catch {
        // gone meanwhile
      }
    }
  }
  return found;
}

export function partCacheInfo(dir: string): PartCacheInfo {
  const parts = held(dir);
  return { parts: parts.length, bytes: parts.reduce((sum, p) => sum + p.size, 0) };
}

/** Removes least recently used parts until the cache holds at most maxBytes; returns what went. */
export function prunePartCache(dir: string, maxBytes: number): PartCacheInfo {
  const parts = held(dir).sort((a, b) => a.used - b.used);
  let total = parts.reduce((sum, p) => sum + p.size, 0);
  const removed: PartCacheInfo = { parts: 0, bytes: 0 };
  for (const part of parts) {
    if (total <= maxBytes) break;
    try {
      unlinkSync(part.file);
      rmSync(part.file + LISTING, { force: true });
      total -= part.size;
      removed.parts++;
      removed.bytes += part.size;
    } catch {
      // another process removed it
    }
  }
  return removed;
}
