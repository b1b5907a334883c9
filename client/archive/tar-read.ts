import { closeSync, fchmodSync, futimesSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { Header, type HeaderData } from 'tar/header';
import { Pax } from 'tar/pax';
import { safeRelativePath, unsafe } from './safe-path.ts';
import { readShortHeader } from './tar-header.ts';

// Reads one tar stream chunk by chunk and writes its files under root with synchronous
// calls (node-tar's own unpack costs ~10× more per file; see FACTS.md). Only regular
// files and folders are written here; hard links, symlinks and folder modes/times are
// returned for finishTree() to apply once every part is in, so nothing is ever written
// through a link and parts can be extracted in any order.

const BLOCK = 512;
const MAX_META_BYTES = 1024 * 1024;
const PERMISSION_BITS = 0o777; // setuid, setgid and sticky bits are not restored
// The mode a file gets from open() is mode & ~umask; fchmod only when that differs.
const UMASK = readUmask();
/** The mode every folder an extraction makes is asked for */
export const FOLDER_MODE = 0o755;
/** ...and the mode it gets: finishing a folder of this mode needs no chmod. */
export const MADE_FOLDER_MODE = FOLDER_MODE & ~UMASK;

export interface DirRecord { rel: string; mode: number; mtime: number }
export interface LinkRecord { rel: string; target: string; mtime: number }

/** A member as a listing sees it, in archive order; '' is the root. */
export interface Member { rel: string; kind: 'file' | 'dir' | 'symlink' | 'hardlink' }

export interface ExtractResult {
  /** the part came from the local part cache, not the server */
  local?: boolean;
  /** when asked for: every member, in archive order (what a restore in place needs) */
  members?: Member[];
  files: number;
  fileBytes: number;
  dirs: DirRecord[];
  hardlinks: LinkRecord[];
  symlinks: LinkRecord[];
}

type State =
  | { kind: 'header' }
  | { kind: 'file'; fd: number; left: number; pad: number; mode: number; mtime: number }
  | { kind: 'meta'; type: string; left: number; pad: number; parts: Buffer[] }
  | { kind: 'skip'; left: number }
  | { kind: 'end' };

export interface ExtractLimits {
  /** members this part may hold (its manifest's count) */
  maxEntries: number;
  /** bytes one member may declare (its part's raw size) */
  maxEntryBytes: number;
}

const NO_LIMITS: ExtractLimits = { maxEntries: Number.MAX_SAFE_INTEGER, maxEntryBytes: Number.MAX_SAFE_INTEGER };

export class TarExtractor {
  /** the root folder with a slash after it: a member's clean name goes after it as it is (path.join per member cost more than the check of the name) */
  readonly #under: string;
  readonly #limits: ExtractLimits;
  /** the members' mtimes when they travel beside the part (manifest version 2) */
  readonly #times: readonly number[] | undefined;
  #entries = 0;
  readonly #madeDirs = new Set<string>(['']);
  readonly #result: ExtractResult = { files: 0, fileBytes: 0, dirs: [], hardlinks: [], symlinks: [] };
  #state: State = { kind: 'header' };
  #carry: Buffer = Buffer.alloc(0);
  #ex: HeaderData | undefined;
  #gex: HeaderData | undefined;

  readonly #listOnly: boolean;

  /** listing: the result lists the members; with no root, nothing is written, they are only listed */
  constructor(root: string | undefined, limits: ExtractLimits = NO_LIMITS, times?: readonly number[], listing = root === undefined) {
    this.#under = root === undefined ? '' : join(root, '/');
    this.#limits = limits;
    this.#times = times;
    this.#listOnly = root === undefined;
    if (listing) this.#result.members = [];
  }

  write(chunk: Buffer): void {
    const data = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    this.#carry = Buffer.alloc(0);
    let off = 0;
    while (off < data.length) {
      const state = this.#state;
      if (state.kind === 'end') {
        if (data.subarray(off).some((b) => b !== 0)) throw unsafe('data after the end of the archive');
        return;
      }
      if (state.kind === 'header') {
        if (data.length - off < BLOCK) break;
        this.#header(data.subarray(off, off + BLOCK));
        off += BLOCK;
        continue;
      }
      const take = Math.min(state.left, data.length - off);
      const piece = data.subarray(off, off + take);
      off += take;
      state.left -= take;
      if (state.kind === 'file') writeAll(state.fd, piece);
      else if (state.kind === 'meta') state.parts.push(piece);
      if (state.left === 0) this.#finishBody(state);
    }
    if (off < data.length) this.#carry = Buffer.from(data.subarray(off));
  }

  /** The stream ended: it must have ended on a clean boundary. */
  end(): ExtractResult {
    if (this.#state.kind !== 'header' && this.#state.kind !== 'end') {
      this.abort();
      throw unsafe('archive ends in the middle of an entry');
    }
    if (this.#carry.length > 0) throw unsafe('archive ends with a partial block');
    if (this.#state.kind !== 'end') throw unsafe('archive has no end-of-archive block: it was cut short');
    if (this.#limits !== NO_LIMITS && this.#entries !== this.#limits.maxEntries) throw unsafe(`the part holds ${this.#entries} members, but its manifest declares ${this.#limits.maxEntries}`);
    if (this.#times && this.#entries !== this.#times.length) throw unsafe(`the part holds ${this.#entries} members, but its manifest gives times for ${this.#times.length}`);
    return this.#result;
  }

  /** Releases an open file after a failure; the caller removes the folder. */
  abort(): void {
    if (this.#state.kind === 'file') closeSync(this.#state.fd);
    this.#state = { kind: 'end' };
  }

  #header(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.#state = { kind: 'end' };
      return;
    }
    // The short form this client writes is read fast; anything else, and any member
    // with pax or GNU long names pending, goes through node-tar.
    const header = (this.#ex === undefined && this.#gex === undefined ? readShortHeader(block) : undefined) ?? this.#decode(block);
    const size = header.size;
    if (size > this.#limits.maxEntryBytes) throw unsafe(`a member declares ${size} bytes, more than its whole part (${this.#limits.maxEntryBytes})`);
    const pad = (BLOCK - (size % BLOCK)) % BLOCK;
    const type = header.type;
    if (type === 'ExtendedHeader' || type === 'GlobalExtendedHeader' || type === 'NextFileHasLongPath' || type === 'NextFileHasLongLinkpath') {
      if (size > MAX_META_BYTES) throw unsafe(`${type} of ${size} bytes`);
      this.#state = { kind: 'meta', type, left: size, pad, parts: [] };
      if (size === 0) this.#finishBody(this.#state);
      return;
    }
    const { path, linkpath } = header;
    this.#ex = undefined;
    if (++this.#entries > this.#limits.maxEntries) throw unsafe(`the part holds more than its declared ${this.#limits.maxEntries} members`);
    const rel = safeRelativePath(path);
    const mode = header.mode & PERMISSION_BITS;
    const mtime = this.#times ? (this.#times[this.#entries - 1] as number) : header.mtime;
    this.#result.members?.push({ rel, kind: memberKind(type, rel) });
    if (this.#listOnly) {
      this.#state = size + pad > 0 ? { kind: 'skip', left: size + pad } : { kind: 'header' };
      return;
    }
    switch (type) {
      case 'File':
      case 'OldFile':
      case 'ContiguousFile': {
        if (rel === '') throw unsafe('a file entry names the root folder');
        this.#ensureParent(rel);
        const fd = this.#openNew(rel, mode);
        this.#result.files++;
        this.#result.fileBytes += size;
        this.#state = { kind: 'file', fd, left: size, pad, mode, mtime };
        if (size === 0) this.#finishBody(this.#state);
        return;
      }
      case 'Directory':
        if (rel !== '') {
          this.#makeDir(rel);
          this.#result.dirs.push({ rel, mode, mtime });
        }
        break;
      case 'SymbolicLink':
        if (rel === '' || !linkpath || linkpath.includes('\0')) throw unsafe(`bad symbolic link ${JSON.stringify(rel)}`);
        this.#result.symlinks.push({ rel, target: linkpath, mtime });
        break;
      case 'Link':
        if (rel === '') throw unsafe('a hard link names the root folder');
        this.#result.hardlinks.push({ rel, target: safeRelativePath(linkpath ?? ''), mtime });
        break;
      default:
        throw unsafe(`${type} entry ${JSON.stringify(rel)}: only files, folders and links are restored`);
    }
    this.#state = size + pad > 0 ? { kind: 'skip', left: size + pad } : { kind: 'header' };
  }

  /** node-tar's reading of any header, pending pax and GNU long names applied. */
  #decode(block: Buffer): { type: string; size: number; path: string; linkpath: string | undefined; mode: number; mtime: number } {
    let header: Header;
    try {
      header = new Header(block, 0, this.#ex, this.#gex);
    } catch (err) {
      throw unsafe(`corrupt tar header: ${(err as Error).message}`);
    }
    if (!header.cksumValid) throw unsafe('corrupt tar header (bad checksum)');
    return {
      type: header.type,
      size: header.size ?? 0,
      // Header.decode prefixes a pax path with the ustar prefix field; the pax (or GNU
      // long-name) values are the whole names, so they win, as in node-tar's ReadEntry.
      path: this.#ex?.path ?? this.#gex?.path ?? header.path ?? '',
      linkpath: this.#ex?.linkpath ?? this.#gex?.linkpath ?? header.linkpath,
      mode: header.mode ?? 0o644,
      mtime: finiteTime(header.mtime),
    };
  }

  /** A body's content is complete: apply it, then skip the padding to the next header. */
  #finishBody(state: State): void {
    let pad = 0;
    if (state.kind === 'file') {
      // The file is no longer ours to close, whatever closeWith meets: abort() must not
      // close its descriptor again (workers share one table; it may be another's by then).
      this.#state = { kind: 'header' };
      closeWith(state.fd, state.mode, state.mtime);
      pad = state.pad;
    } else if (state.kind === 'meta') {
      pad = state.pad;
      const body = Buffer.concat(state.parts).toString('utf8');
      if (state.type === 'ExtendedHeader') this.#ex = Pax.parse(body, this.#ex, false);
      else if (state.type === 'GlobalExtendedHeader') this.#gex = Pax.parse(body, this.#gex, true);
      else if (state.type === 'NextFileHasLongPath') this.#ex = { ...this.#ex, path: body.replace(/\0.*/s, '') };
      else this.#ex = { ...this.#ex, linkpath: body.replace(/\0.*/s, '') };
    }
    this.#state = pad > 0 ? { kind: 'skip', left: pad } : { kind: 'header' };
  }

  #openNew(rel: string, mode: number): number {
    try {
      return openSync(this.#under + rel, 'wx', mode | 0o600);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'EISDIR' || code === 'ENOTDIR') throw unsafe(`${JSON.stringify(rel)} appears twice in the archive`);
      throw err;
    }
  }

  #ensureParent(rel: string): void {
    const slash = rel.lastIndexOf('/');
    if (slash > 0) this.#makeDir(rel.slice(0, slash));
  }

  #makeDir(rel: string): void {
    if (this.#madeDirs.has(rel)) return;
    try {
      mkdirSync(this.#under + rel, { recursive: true, mode: FOLDER_MODE });
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EEXIST' || code === 'ENOTDIR') throw unsafe(`${JSON.stringify(rel)} is both a folder and a file in the archive`);
      throw err;
    }
    for (let dir = rel; dir !== '' && !this.#madeDirs.has(dir); dir = dir.slice(0, Math.max(0, dir.lastIndexOf('/')))) this.#madeDirs.add(dir);
  }
}

function memberKind(type: string, rel: string): Member['kind'] {
  if (type === 'File' || type === 'OldFile' || type === 'ContiguousFile') return 'file';
  if (type === 'Directory') return 'dir';
  if (type === 'SymbolicLink') return 'symlink';
  if (type === 'Link') return 'hardlink';
  throw unsafe(`${type} entry ${JSON.stringify(rel)}: only files, folders and links are restored`);
}

/** A header's time in seconds; an invalid one (a pax mtime that is not a number) is refused. */
function finiteTime(date: Date | undefined): number {
  const seconds = (date?.getTime() ?? 0) / 1000;
  if (!Number.isFinite(seconds)) throw unsafe('a member has an invalid time');
  return seconds;
}

function writeAll(fd: number, data: Buffer): void {
  for (let off = 0; off < data.length; ) off += writeSync(fd, data, off);
}

function closeWith(fd: number, mode: number, mtime: number): void {
  try {
    if (((mode | 0o600) & ~UMASK) !== mode) fchmodSync(fd, mode);
    futimesSync(fd, mtime, mtime);
  } finally {
    closeSync(fd);
  }
}

function readUmask(): number {
  try {
    return process.umask();
  } catch {
    return 0o777; // unknown: always fchmod
  }
}
