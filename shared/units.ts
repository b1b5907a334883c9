// How sizes read in messages and logs, the same on both sides.

/** 340.0 MB (powers of 1000, as disks and networks count). */
export function mb(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
