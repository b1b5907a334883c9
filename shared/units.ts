// How sizes read in messages and logs, the same on both sides.

/** 340.0 MB (powers of 1000, as disks and networks count). */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}

/**
 * 33,956 (a count with thousands separators). By hand: toLocaleString loads ICU's
 * number formatting, ~15 ms of a command's start-up, for a comma.
 */
export function count(n: number): string {
  const [whole = '', fraction] = String(Math.abs(n)).split('.');
  const grouped = whole.replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return `${n < 0 ? '-' : ''}${grouped}${fraction === undefined ? '' : `.${fraction}`}`;
}
