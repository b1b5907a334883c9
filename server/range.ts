import { LarderError } from '../shared/errors.ts';
import type { ByteRange } from './storage/store.ts';

/**
 * Parses a single-range `Range: bytes=…` header against a blob's size (RFC 9110 §14.1.2).
 * Returns undefined for "send it all" (no header, or one we don't serve as a range).
 */
export function parseRange(header: string | undefined, size: number): ByteRange | undefined {
  if (header === undefined) return undefined;
  const match = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!match) return undefined; // multi-range or another unit: ignoring Range is allowed
  const [, first = '', last = ''] = match;
  if (first === '' && last === '') return undefined;
  let range: ByteRange;
  if (first === '') {
    const suffix = Number(last);
    if (suffix === 0) throw unsatisfiable(size);
    range = { start: Math.max(0, size - suffix), end: size - 1 };
  } else {
    const start = Number(first);
    const end = last === '' ? size - 1 : Math.min(Number(last), size - 1);
    if (last !== '' && Number(last) < start) return undefined; // invalid: ignore
    range = { start, end };
  }
  if (range.start >= size) throw unsatisfiable(size);
  return range;
}

function unsatisfiable(size: number): LarderError {
  return new LarderError('LARDER_RANGE_NOT_SATISFIABLE', `range not satisfiable for a blob of ${size} bytes`);
}
