import { lstatSync } from 'node:fs';
import { join } from 'node:path';
import type { Manifest, PartRef, PathRecord } from '../../shared/wire/manifest.ts';
import type { Member } from '../archive/tar-read.ts';
import type { Retime } from '../folders/patch.ts';
import { decodeTimes } from '../../shared/wire/times.ts';
import { listPartBuffer } from '../archive/unpack.ts';
import { partsDir, readListing, readLocalPart, storeListing } from './part-cache.ts';

// What a restore can keep of the tree already in the folder (client/folders/patch.ts):
// the folder holds, untouched, an entry this machine knows (its manifest is in the local
// cache), and the parts only that entry has are here to list. A part is kept when its
// bytes are the same in both entries; where its members' times differ (two installs of
// the same packages make folders at different times), those members take the new times.
// Lists come from the listing kept beside each local part, or from the part itself.

export interface Reuse {
  /** the parts to extract: only the new entry has them */
  added: PartRef[];
  /** the parts both entries have, already in place */
  kept: PartRef[];
  /** what the parts only the old entry has put in the folder, parents before children */
  removed: Member[];
  /** members of kept parts whose times the new entry gives otherwise */
  retimed: Retime[];
}

export interface ReuseInput {
  cacheDir: string;
  /** the folder, and the entry its record says it holds (checked unchanged by the caller; its manifest from the local cache) */
  target: string;
  held: Manifest;
  /** the path record of the entry asked for (of manifest version 2) */
  wanted: PathRecord;
}

/** The plan, or undefined when a full restore is the way (nothing shared, a part not here, hard links). */
export function planReuse(input: ReuseInput): Reuse | undefined {
  // Version 2 entries come from this client's walk, which lists every folder before what
  // it holds: what patchIntoPlace's whole-folder moves rely on.
  const before = input.held.version === 2 ? input.held.paths.find((p) => p.path === input.wanted.path) : undefined;
  if (!before) return undefined;
  const had = new Map(before.parts.map((p) => [p.digest, p]));
  const has = new Set(input.wanted.parts.map((p) => p.digest));
  const kept = input.wanted.parts.filter((p) => had.has(p.digest));
  if (kept.length === 0) return undefined;
  const dir = partsDir(input.cacheDir);
  const removed: Member[] = [];
  for (const part of before.parts.filter((p) => !has.has(p.digest))) {
    const members = listLocal(dir, part);
    if (!members) return undefined;
    for (const member of members) {
      if (member.rel === '') continue; // the root is the target itself
      if (member.kind === 'hardlink' || !replaceable(join(input.target, member.rel), member)) return undefined;
      removed.push(member);
    }
  }
  const retimed: Reuse['retimed'] = [];
  for (const part of kept) {
    const old = had.get(part.digest) as PartRef;
    if (old.times === part.times) continue;
    const members = listLocal(dir, part);
    if (!members || old.times === undefined || part.times === undefined) return undefined;
    const [was, is] = [decodeTimes(old.times, old.entries), decodeTimes(part.times, part.entries)];
    members.forEach((m, i) => {
      if (m.rel !== '' && was[i] !== is[i]) retimed.push({ rel: m.rel, mtime: is[i] as number, was: was[i] as number });
    });
  }
  return { added: input.wanted.parts.filter((p) => !had.has(p.digest)), kept, removed, retimed };
}

/** A local part's members: its listing, else read from the part (and listed for next time); undefined when it is not here or damaged. */
function listLocal(dir: string, part: PartRef): Member[] | undefined {
  const listed = readListing(dir, part);
  if (listed) return listed;
  const bytes = readLocalPart(dir, part);
  try {
    const members = bytes && listPartBuffer(bytes, part);
    if (members) storeListing(dir, part.digest, members);
    return members;
  } catch {
    return undefined; // a damaged local copy: the full restore downloads what it needs
  }
}

/**
 * A member may be moved out when it is there as listed; a file with other names (a hard
 * link from a kept part) would keep the old bytes under them, so it makes the restore whole.
 */
function replaceable(path: string, member: Member): boolean {
  try {
    const st = lstatSync(path);
    if (member.kind === 'dir') return st.isDirectory();
    if (member.kind === 'symlink') return st.isSymbolicLink();
    return st.isFile() && st.nlink === 1;
  } catch {
    return false;
  }
}
