// Binary search over keys in order: how both stores' entry indexes find a prefix.

/** The first index whose key is ≥ prefix. */
export function lowerBound(sorted: readonly string[], prefix: string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if ((sorted[mid] as string) < prefix) low = mid + 1;
    else high = mid;
  }
  return low;
}

export function insertSorted(sorted: string[], key: string): void {
  sorted.splice(lowerBound(sorted, key), 0, key);
}
