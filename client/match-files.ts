import * as fs from 'node:fs';
import * as path from 'node:path';

// The files a {hash:GLOB,…} covers. fs.globSync where Node has it (22+); on Node 20 a walk
// matched with path.matchesGlob, which is the same matcher (test/client/match-files.test.ts
// holds them to the same answers), so a key is the same on every Node.

// Trees that lockfile globs must never descend into: huge, and never inputs.
export const NEVER_HASHED_DIRS = new Set(['node_modules', '.git', '.venv']);

type GlobSync = (patterns: string[], options: { cwd: string; withFileTypes: true; exclude: (entry: fs.Dirent) => boolean }) => fs.Dirent[];
const globSync = (fs as unknown as { globSync?: GlobSync }).globSync;

/** Files (not folders, not links) matching any glob, relative to cwd with /, sorted so the hash is stable. */
export function matchFiles(globs: string[], cwd: string): string[] {
  const root = path.resolve(cwd);
  const files = globSync ? viaGlob(globs, root) : viaWalk(globs, root);
  return [...new Set(files)].sort();
}

function viaGlob(globs: string[], root: string): string[] {
  const found = (globSync as GlobSync)(globs, { cwd: root, withFileTypes: true, exclude: (entry) => NEVER_HASHED_DIRS.has(entry.name) && entry.isDirectory() });
  return found.filter((d) => d.isFile()).map((d) => toPosix(path.resolve(d.parentPath, d.name), root));
}

function viaWalk(globs: string[], root: string): string[] {
  const matches = (path as unknown as { matchesGlob: (file: string, glob: string) => boolean }).matchesGlob;
  // Without ** a glob reaches only as deep as it has segments.
  const depth = globs.some((g) => g.includes('**')) ? Number.POSITIVE_INFINITY : Math.max(...globs.map((g) => g.split('/').length));
  const files: string[] = [];
  const walk = (dir: string, rel: string, level: number): void => {
    let entries: fs.Dirent[];
    try {
      entries = fs.readdirSync(dir, { withFileTypes: true });
    } catch {
      return; // unreadable: globSync skips it too
    }
    for (const entry of entries) {
      const name = rel ? `${rel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        if (!NEVER_HASHED_DIRS.has(entry.name) && level < depth) walk(path.join(dir, entry.name), name, level + 1);
      } else if (entry.isFile() && globs.some((g) => matches(name, g))) {
        files.push(name);
      }
    }
  };
  walk(root, '', 1);
  return files;
}

function toPosix(abs: string, root: string): string {
  return abs.slice(root.length + 1).split('\\').join('/');
}
