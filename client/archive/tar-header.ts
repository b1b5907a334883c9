import { Header, type HeaderData } from 'tar/header';
import { Pax } from 'tar/pax';
import type { TreeEntry } from './tree.ts';

// Tar headers for a part. node-tar's Header is general (it slurps objects and pads with
// string arrays) and costs ~10 µs an entry to write, ~5 to read: most of a second of
// CPU on a 70k-file tree. Nearly every entry has an ASCII name of at most 255 bytes and a
// small size; for those writeShortHeader writes one plain ustar block straight into the
// part's buffer (a name of 100 bytes or more split at a slash into the prefix field, as
// POSIX has it), and readShortHeader reads it back. Anything else (a longer or non-ASCII
// name, a file of 8 GiB or more) is written by node-tar with a pax record, and read by
// node-tar. Owners and times are 0, so the same files give the same bytes whenever they
// were written; the real times travel beside the part (shared/wire/times.ts).

export const BLOCK = 512;

const TYPE_FLAG = { file: 0x30, hardlink: 0x31, symlink: 0x32, dir: 0x35 } as const;
const TYPE_NAME = { file: 'File', hardlink: 'Link', symlink: 'SymbolicLink', dir: 'Directory' } as const;
const NAME_FIELD = 100;
const PREFIX_FIELD = 155;
const PREFIX_AT = 345;
const MAX_OCTAL_12 = 0o77777777777;

/** True when the entry fits one plain ustar block, which writeShortHeader can write. */
export function fitsShortHeader(entry: TreeEntry): boolean {
  return (
    splitName(entry) !== undefined &&
    isAscii(entry.rel) &&
    (entry.link === undefined || (entry.link.length <= NAME_FIELD && isAscii(entry.link))) &&
    entry.size <= MAX_OCTAL_12
  );
}

/**
 * The entry's name as the ustar prefix and name fields hold it: a name under 100 bytes
 * whole (node-tar splits one of exactly 100), a longer one at the last slash that leaves
 * a prefix of at most 155 bytes and a name under 100 (what node-tar's writer does for
 * files); undefined when no slash does.
 */
function splitName(entry: TreeEntry): { prefix: string; name: string } | undefined {
  const full = entry.type === 'dir' ? `${entry.rel}/` : entry.rel;
  if (full.length < NAME_FIELD) return { prefix: '', name: full };
  // A folder's own trailing slash is not a place to split.
  for (let at = Math.min(PREFIX_FIELD, full.length - 2); at > 0 && full.length - at - 1 < NAME_FIELD; at--) {
    if (full[at] === '/') return { prefix: full.slice(0, at), name: full.slice(at + 1) };
  }
  return undefined;
}

/**
 * Every field a short header holds the same for all entries (owners, time, magic,
 * devices), as node-tar writes them; the checksum field blank. A header starts as a copy.
 */
const TEMPLATE = (() => {
  const block = Buffer.alloc(BLOCK);
  putOctal(block, 108, 8, 0); // uid
  putOctal(block, 116, 8, 0); // gid
  putOctal(block, 136, 12, 0); // mtime: beside the part
  block.write('ustar\u000000', 257, 'latin1');
  putOctal(block, 329, 8, 0); // device major
  putOctal(block, 337, 8, 0); // device minor
  return block;
})();
/** The template's checksum before the entry's own fields are added. */
const TEMPLATE_SUM = checksumOf(TEMPLATE, 0);

/**
 * Writes the header of an entry that fitsShortHeader into the block at off (whatever it
 * held before): a copy of the template, then the entry's fields byte by byte, summing
 * them for the checksum on the way. Strings and a second pass over the block cost as
 * much as reading the small files they describe (~1 µs a header).
 */
export function writeShortHeader(buf: Buffer, off: number, entry: TreeEntry): void {
  const { prefix, name } = splitName(entry) as { prefix: string; name: string };
  TEMPLATE.copy(buf, off);
  let sum = TEMPLATE_SUM + putAscii(buf, off, name) + putAscii(buf, off + PREFIX_AT, prefix);
  sum += putOctal(buf, off + 100, 8, entry.mode) + putOctal(buf, off + 124, 12, entry.type === 'file' ? entry.size : 0);
  buf[off + 156] = TYPE_FLAG[entry.type];
  sum += TYPE_FLAG[entry.type];
  if (entry.link !== undefined) sum += putAscii(buf, off + 157, entry.link);
  putOctal(buf, off + 148, 8, sum);
}

/** Writes ASCII text at off; returns the sum of its bytes. */
function putAscii(buf: Buffer, off: number, text: string): number {
  let sum = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    buf[off + i] = c;
    sum += c;
  }
  return sum;
}

/**
 * A number in node-tar's layout: zero-padded octal, a space and a NUL; or all digits and a
 * NUL (the field's last byte, left as the block has it: zero). Digit by digit, as sizes pass
 * 2^31 (no bitwise operators); returns the sum of the bytes written, for the checksum.
 */
function putOctal(buf: Buffer, off: number, width: number, value: number): number {
  let digits = 1;
  for (let rest = Math.floor(value / 8); rest > 0; rest = Math.floor(rest / 8)) digits++;
  const padded = digits === width - 1 ? digits : width - 2;
  let sum = 0;
  let rest = value;
  for (let i = padded - 1; i >= 0; i--) {
    const c = 0x30 + (rest % 8);
    buf[off + i] = c;
    sum += c;
    rest = Math.floor(rest / 8);
  }
  if (padded < width - 1) {
    buf[off + padded] = 0x20;
    sum += 0x20;
  }
  return sum;
}

/** The header blocks of any entry: a pax record first where the name, link or size needs one. */
export function headerBlocks(entry: TreeEntry): Buffer[] {
  const block = Buffer.alloc(BLOCK);
  if (fitsShortHeader(entry)) {
    writeShortHeader(block, 0, entry);
    return [block];
  }
  const data: HeaderData = {
    path: entry.type === 'dir' ? `${entry.rel}/` : entry.rel,
    mode: entry.mode,
    uid: 0,
    gid: 0,
    size: entry.type === 'file' ? entry.size : 0,
    mtime: new Date(0),
    type: TYPE_NAME[entry.type],
    linkpath: entry.link,
    uname: '',
    gname: '',
  };
  // Always a pax record here: node-tar would fit a 100-byte name as prefix "." plus the
  // name, which reads back as "./name". No time in it, for stable bytes.
  new Header(data).encode(block, 0);
  const pax = new Pax({ path: data.path, linkpath: data.linkpath, size: data.size }).encode();
  return [pax, block];
}

export interface ShortHeader {
  path: string;
  type: 'File' | 'Link' | 'SymbolicLink' | 'Directory';
  mode: number;
  size: number;
  /** seconds */
  mtime: number;
  linkpath: string;
}

const TYPE_OF_FLAG: Partial<Record<number, ShortHeader['type']>> = { 0x30: 'File', 0x31: 'Link', 0x32: 'SymbolicLink', 0x35: 'Directory' };
const USTAR_MAGIC = Buffer.from('ustar\u000000', 'latin1');
/** uid, gid, device major and minor: offset and width */
const OWNER_AND_DEVICE_FIELDS = [[108, 8], [116, 8], [329, 8], [337, 8]] as const;

/**
 * Reads a plain ustar header of the kind writeShortHeader writes, or returns undefined
 * for anything else (another type or magic, base-256 or space-padded numbers,
 * non-ASCII, bytes after a name's or prefix's NUL, a bad checksum), which node-tar's
 * Header then reads. Every field it accepts is exactly well-formed, so on those headers
 * the two readers cannot disagree (a test compares them on mutated headers).
 */
export function readShortHeader(block: Buffer): ShortHeader | undefined {
  const type = TYPE_OF_FLAG[block[156] as number];
  if (!type || !block.subarray(257, 265).equals(USTAR_MAGIC)) return undefined;
  const mode = readOctal(block, 100, 8);
  const size = readOctal(block, 124, 12);
  const mtime = readOctal(block, 136, 12);
  const checksum = readOctal(block, 148, 8);
  if (mode === undefined || size === undefined || mtime === undefined || checksum === undefined) return undefined;
  if (checksumOf(block, 0) !== checksum) return undefined;
  // Fields larder ignores must still be what node-tar reads without complaint.
  for (const [off, width] of OWNER_AND_DEVICE_FIELDS) if (readOctal(block, off, width) === undefined && !zeros(block, off, width)) return undefined;
  const name = readName(block, 0, NAME_FIELD);
  const prefix = readName(block, PREFIX_AT, PREFIX_FIELD);
  const linkpath = readName(block, 157, NAME_FIELD);
  if (name === undefined || prefix === undefined || linkpath === undefined) return undefined;
  const path = prefix ? `${prefix}/${name}` : name;
  if (type === 'File' && path.endsWith('/')) return undefined; // node-tar reads that as a folder
  return { path, type, mode, size: type === 'Directory' ? 0 : size, mtime, linkpath };
}

/** The sum of the header's bytes, its own checksum field counted as eight spaces. */
function checksumOf(buf: Buffer, off: number): number {
  let sum = 8 * 0x20;
  for (let i = off; i < off + 148; i++) sum += buf[i] as number;
  for (let i = off + 156; i < off + BLOCK; i++) sum += buf[i] as number;
  return sum;
}

function zeros(block: Buffer, off: number, width: number): boolean {
  for (let i = off; i < off + width; i++) if (block[i] !== 0) return false;
  return true;
}

/** Octal digits, then only spaces and NULs to the end of the field. */
function readOctal(block: Buffer, off: number, width: number): number | undefined {
  let value = 0;
  let i = off;
  for (; i < off + width; i++) {
    const c = block[i] as number;
    if (c < 0x30 || c > 0x37) break;
    value = value * 8 + (c - 0x30);
  }
  if (i === off) return undefined;
  for (; i < off + width; i++) if (block[i] !== 0x20 && block[i] !== 0) return undefined;
  return value;
}

/** ASCII up to a NUL, and nothing but NULs after it. */
function readName(block: Buffer, off: number, width: number): string | undefined {
  let end = off;
  while (end < off + width && block[end] !== 0) {
    if ((block[end] as number) > 0x7f) return undefined;
    end++;
  }
  for (let i = end; i < off + width; i++) if (block[i] !== 0) return undefined;
  return block.toString('latin1', off, end);
}

function isAscii(text: string): boolean {
  for (let i = 0; i < text.length; i++) if (text.charCodeAt(i) > 0x7f) return false;
  return true;
}
