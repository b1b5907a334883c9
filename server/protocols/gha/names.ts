import { createHash } from 'node:crypto';
import { LarderError } from '../../../shared/errors.ts';

// How a GitHub Actions cache entry (a key of up to 512 characters, a version) is named in
// larder's store: `gha.<version hash>.<key>`, the key written in larder's key alphabet
// with every other byte as `=XX`. The mapping is byte by byte, so a restore key that is a
// prefix of a key stays a prefix of its name, and the entries of one version list
// together. A key too long for larder's 250 characters keeps its first 180 and a hash of
// the whole (`=h…`, never an escape); the whole key lives in the entry and is checked.

const KEPT = /[A-Za-z0-9._+,@-]/;
const MAX_ENCODED = 180;

export const DEFAULT_NAMESPACE = 'gha';
/** the name /v1/stats and /metrics count this protocol under */
export const PROTOCOL = 'github-actions';

export function versionPrefix(version: string): string {
  return `gha.${createHash('sha256').update(version).digest('hex').slice(0, 16)}.`;
}

/** The key in larder's alphabet, whole (for a prefix, cut at MAX_ENCODED). */
export function encodeKey(key: string): string {
  let out = '';
  for (const byte of Buffer.from(key, 'utf8')) {
    const ch = String.fromCharCode(byte);
    out += byte < 0x80 && KEPT.test(ch) ? ch : `=${byte.toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/** The name of the entry for key and version. */
export function entryName(key: string, version: string): string {
  const encoded = encodeKey(key);
  if (encoded.length <= MAX_ENCODED + 20) return versionPrefix(version) + encoded;
  return `${versionPrefix(version)}${cut(encoded)}=h${createHash('sha256').update(key).digest('hex').slice(0, 40)}`;
}

/** The listing prefix for a restore key: every entry whose key starts with it lists under it. */
export function prefixName(prefix: string, version: string): string {
  const encoded = encodeKey(prefix);
  return versionPrefix(version) + (encoded.length <= MAX_ENCODED ? encoded : cut(encoded));
}

/** What trust tiers (a grant's key prefixes) are checked against: the key as written in larder's alphabet. */
export function tierKey(name: string): string {
  return name.slice(name.indexOf('.', 4) + 1);
}

/** Cut at MAX_ENCODED, never inside an escape. */
function cut(encoded: string): string {
  const head = encoded.slice(0, MAX_ENCODED);
  const escape = head.lastIndexOf('=');
  return escape >= 0 && escape > head.length - 3 ? head.slice(0, escape) : head;
}

/** Checks a key as GitHub's own service does. */
export function checkGhaKey(key: unknown, what = 'key'): string {
  if (typeof key !== 'string' || key === '' || key.length > 512 || key.includes(',')) {
    throw new LarderError('LARDER_INVALID_KEY', `${what} must be 1 to 512 characters without commas`);
  }
  return key;
}
