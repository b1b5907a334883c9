// Which entries go: a pure function of what is stored, when each entry was last used,
// and the caps, so the order is easy to see and to test. An entry's size is its
// manifest plus the parts no other entry shares: evicting it frees exactly that.

export interface Caps {
  /** the whole store, in bytes */
  maxBytes?: number;
  /** entries not restored (nor published) for this long go */
  maxIdleMs?: number;
  /** per namespace, in bytes */
  quotas?: Readonly<Record<string, number>>;
}

export interface LiveEntry {
  ns: string;
  key: string;
  /** manifest bytes */
  size: number;
  /** last restore or publish, ms since the epoch */
  lastAccess: number;
  digests: readonly string[];
}

export type EvictionReason = 'idle' | 'quota' | 'size';

export interface Eviction {
  entry: LiveEntry;
  reason: EvictionReason;
}

export interface Usage {
  /** bytes of the live entries: their manifests and the blobs they use */
  bytes: number;
  entries: number;
}

export interface Choice {
  evict: Eviction[];
  /** what stays, in total and by namespace */
  live: Usage;
  byNamespace: Map<string, Usage>;
}

/**
 * Least recently used first (ties: key order, so runs agree): idle entries, then each
 * namespace down to its quota, then the whole store down to its cap.
 */
export function chooseEvictions(entries: readonly LiveEntry[], blobSizes: ReadonlyMap<string, number>, caps: Caps, now: number): Choice {
  const refs = new Map<string, number>();
  const blobId = (ns: string, digest: string): string => `${ns}/${digest}`;
  const byNamespace = new Map<string, Usage>();
  const usage = (ns: string): Usage => {
    let u = byNamespace.get(ns);
    if (!u) byNamespace.set(ns, (u = { bytes: 0, entries: 0 }));
    return u;
  };
  const live: Usage = { bytes: 0, entries: 0 };
  const add = (ns: string, bytes: number, entries: number): void => {
    const u = usage(ns);
    u.bytes += bytes;
    u.entries += entries;
    live.bytes += bytes;
    live.entries += entries;
  };
  for (const entry of entries) {
    add(entry.ns, entry.size, 1);
    for (const digest of new Set(entry.digests)) {
      const id = blobId(entry.ns, digest);
      const count = refs.get(id) ?? 0;
      refs.set(id, count + 1);
      if (count === 0) add(entry.ns, blobSizes.get(id) ?? 0, 0);
    }
  }
  const evict: Eviction[] = [];
  const gone = new Set<LiveEntry>();
  const remove = (entry: LiveEntry, reason: EvictionReason): void => {
    gone.add(entry);
    evict.push({ entry, reason });
    add(entry.ns, -entry.size, -1);
    for (const digest of new Set(entry.digests)) {
      const id = blobId(entry.ns, digest);
      const count = (refs.get(id) ?? 1) - 1;
      refs.set(id, count);
      if (count === 0) add(entry.ns, -(blobSizes.get(id) ?? 0), 0);
    }
  };
  const lru = [...entries].sort((a, b) => a.lastAccess - b.lastAccess || (a.ns < b.ns ? -1 : a.ns > b.ns ? 1 : a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  if (caps.maxIdleMs !== undefined) for (const entry of lru) if (entry.lastAccess < now - caps.maxIdleMs) remove(entry, 'idle');
  for (const [ns, quota] of Object.entries(caps.quotas ?? {})) {
    for (const entry of lru) {
      if (usage(ns).bytes <= quota) break;
      if (entry.ns === ns && !gone.has(entry)) remove(entry, 'quota');
    }
  }
  if (caps.maxBytes !== undefined) {
    for (const entry of lru) {
      if (live.bytes <= caps.maxBytes) break;
      if (!gone.has(entry)) remove(entry, 'size');
    }
  }
  return { evict, live, byNamespace };
}
