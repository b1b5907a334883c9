import { lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { type Timed, timed } from './measure.ts';

// The least any Node.js client does for a save or a restore of a tree, on one thread:
// a save walks the tree and reads every file; a restore makes every folder, file and link
// with its mode and mtime. Nothing else: no tar, no zstd, no hash, no network, no code to
// load, and one piece of memory used again and again (new memory costs ~24 µs a page
// here). Beside the native save and restore it says what Node's own start and its file
// calls cost before any client adds its work: where this alone takes longer than the
// native tools, no client on Node can meet a goal of 1.0× native on that tree here. Each
// runs as plain JavaScript in `node -e` (a .ts file costs ~0.1 s of type stripping).
// One thread is the fastest way Node has to do it: a worker thread takes ~80 ms to start,
// and the same calls through libuv's pool (fs/promises) took 0.37 s against 0.15 s.

/** A tree's entry as the least restore makes it: a folder, a file of `size` bytes, or a link. */
export type LeastEntry = { kind: 'dir'; path: string; mode: number; mtime: number } | { kind: 'file'; path: string; size: number; mode: number; mtime: number } | { kind: 'link'; path: string; target: string };

/** What the least save and restore report, to check they did the whole tree. */
export interface LeastCount {
  files: number;
  bytes: number;
}

/** The entries of `path` under `root`, each folder before what it holds (read before the timed runs). */
export function leastEntries(root: string, path: string): LeastEntry[] {
  const entries: LeastEntry[] = [];
  const visit = (relative: string): void => {
    const stat = lstatSync(join(root, relative));
    const mtime = Math.floor(stat.mtimeMs / 1000);
    if (stat.isSymbolicLink()) entries.push({ kind: 'link', path: relative, target: readlinkSync(join(root, relative)) });
    else if (stat.isFile()) entries.push({ kind: 'file', path: relative, size: stat.size, mode: stat.mode & 0o7777, mtime });
    else if (stat.isDirectory()) {
      entries.push({ kind: 'dir', path: relative, mode: stat.mode & 0o7777, mtime });
      for (const name of readdirSync(join(root, relative)).sort()) visit(join(relative, name));
    }
  };
  visit(path);
  return entries;
}

/**
 * The list the least restore reads: five fields an entry (kind, mode, mtime, size or link
 * target, path), each ended by a NUL. Read as JSON, npm-large's 74,082 entries took 0.22 s
 * to parse; cut out of one string, 0.05 s.
 */
export function leastListText(entries: readonly LeastEntry[]): string {
  const fields = entries.map((e) => (e.kind === 'link' ? ['l', 0, 0, e.target, e.path] : e.kind === 'file' ? ['f', e.mode, e.mtime, e.size, e.path] : ['d', e.mode, e.mtime, 0, e.path]));
  return fields.map((f) => `${f.join('\0')}\0`).join('');
}

// The two programs. Each is its own source (Function.prototype.toString), so it must use
// nothing from outside itself; it prints what it did as JSON.

function leastSaveProgram(path: string): void {
  const fs = process.getBuiltinModule('node:fs');
  const piece = Buffer.alloc(1024 * 1024);
  let files = 0;
  let bytes = 0;
  const folders = [path];
  for (let folder = folders.pop(); folder !== undefined; folder = folders.pop()) {
    for (const name of fs.readdirSync(folder)) {
      const at = `${folder}/${name}`;
      const stat = fs.lstatSync(at);
      if (stat.isDirectory()) folders.push(at);
      else if (stat.isFile()) {
        const fd = fs.openSync(at, 'r');
        for (let read = fs.readSync(fd, piece); read > 0; read = fs.readSync(fd, piece)) bytes += read;
        fs.closeSync(fd);
        files++;
      }
    }
  }
  process.stdout.write(JSON.stringify({ files, bytes }));
}

function leastRestoreProgram(listFile: string): void {
  const fs = process.getBuiltinModule('node:fs');
  const list = fs.readFileSync(listFile, 'utf8');
  let at = 0;
  const field = (): string => {
    const end = list.indexOf('\0', at);
    const value = list.slice(at, end);
    at = end + 1;
    return value;
  };
  const piece = Buffer.alloc(1024 * 1024);
  let files = 0;
  let bytes = 0;
  const folders: Array<{ path: string; mode: number; mtime: number }> = [];
  while (at < list.length) {
    const [kind, mode, mtime, sizeOrTarget, path] = [field(), Number(field()), Number(field()), field(), field()];
    if (kind === 'd') {
      fs.mkdirSync(path, { recursive: true }); // the tree's own folder may be below others (.m2/repository)
      folders.push({ path, mode, mtime });
    } else if (kind === 'l') fs.symlinkSync(sizeOrTarget, path);
    else {
      const size = Number(sizeOrTarget);
      const fd = fs.openSync(path, 'w', mode);
      for (let left = size; left > 0; left -= piece.length) fs.writeSync(fd, piece, 0, Math.min(left, piece.length));
      fs.futimesSync(fd, mtime, mtime);
      fs.closeSync(fd);
      files++;
      bytes += size;
    }
  }
  // A folder's mode and time last, deepest first: writing into it moved its time.
  for (const folder of folders.reverse()) {
    fs.chmodSync(folder.path, folder.mode);
    fs.utimesSync(folder.path, folder.mtime, folder.mtime);
  }
  process.stdout.write(JSON.stringify({ files, bytes }));
}

/** `node -e` running `program` with these arguments. */
function nodeRunning(program: (arg: string) => void, arg: string, cwd: string): Promise<Timed & LeastCount> {
  return timed(process.execPath, ['-e', `(${program.toString()})(process.argv[1])`, arg], { cwd }).then((run) => ({ ...run, ...(JSON.parse(run.stdout) as LeastCount) }));
}

/** Walks `path` of `project` and reads every file. */
export function leastSave(project: string, path: string): Promise<Timed & LeastCount> {
  return nodeRunning(leastSaveProgram, path, project);
}

/** Makes, in `dir`, every entry of the list in `listFile` (leastListText). */
export function leastRestore(dir: string, listFile: string): Promise<Timed & LeastCount> {
  return nodeRunning(leastRestoreProgram, listFile, dir);
}

/** Node's own start and exit: `node -e 0`. */
export function nodeStart(cwd: string): Promise<Timed> {
  return timed(process.execPath, ['-e', '0'], { cwd });
}
