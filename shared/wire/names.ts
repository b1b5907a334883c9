import { LarderError } from '../errors.ts';

// Namespaces and keys end up in URLs, file names and S3 object keys, so both are
// validated against a closed alphabet before anything else looks at them.
export const NAMESPACE_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
// 250, not more: the disk store keeps an entry as `<key>.json`, and ext4 names stop at 255 bytes.
export const KEY_MAX_LENGTH = 250;
export const KEY_PATTERN = /^[A-Za-z0-9._+=,@-]{1,250}$/;
export const KEY_PREFIX_PATTERN = /^[A-Za-z0-9._+=,@-]{0,250}$/;

export function checkNamespace(ns: string): string {
  if (!NAMESPACE_PATTERN.test(ns)) {
    throw new LarderError('LARDER_INVALID_NAMESPACE', `namespace ${JSON.stringify(ns)} must match ${NAMESPACE_PATTERN.source}`);
  }
  return ns;
}

export function checkKey(key: string): string {
  if (!KEY_PATTERN.test(key)) {
    throw new LarderError('LARDER_INVALID_KEY', `key ${JSON.stringify(key.slice(0, 300))} must be 1-${KEY_MAX_LENGTH} characters of A-Z a-z 0-9 . _ + = , @ -`);
  }
  return key;
}

export function checkKeyPrefix(prefix: string): string {
  if (!KEY_PREFIX_PATTERN.test(prefix)) {
    throw new LarderError('LARDER_INVALID_KEY', `key prefix ${JSON.stringify(prefix.slice(0, 300))} must be at most ${KEY_MAX_LENGTH} characters of A-Z a-z 0-9 . _ + = , @ -`);
  }
  return prefix;
}
