import type { Store } from '../storage/store.ts';
import { type Clock, LEASE, parseOr } from './state.ts';

// One collector at a time across any number of servers on one store: a lease object
// taken with a conditional write (create if absent; replace only the version read, when
// it has expired). The collection is safe even if two ran at once (collector.ts says
// why); the lease saves the work and the requests of a second.

export interface Lease {
  holder: string;
  etag: string;
}

interface LeaseBody {
  holder: string;
  expiresAt: number;
}

/** The lease, or who holds it. */
export async function acquireLease(store: Store, holder: string, now: Clock, ttlMs: number): Promise<Lease | { heldBy: string }> {
  const current = await store.getMeta(LEASE);
  const body = Buffer.from(JSON.stringify({ holder, expiresAt: now() + ttlMs } satisfies LeaseBody));
  if (!current) {
    const created = await store.putMeta(LEASE, body, { ifAbsent: true });
    return created === 'conflict' ? { heldBy: 'another server (it just took it)' } : { holder, etag: created.etag };
  }
  const held = parseOr<Partial<LeaseBody>>(current.body, {});
  if (held.holder !== holder && typeof held.expiresAt === 'number' && held.expiresAt > now()) return { heldBy: held.holder ?? 'another server' };
  const taken = await store.putMeta(LEASE, body, { ifEtag: current.etag });
  return taken === 'conflict' ? { heldBy: 'another server (it just took it)' } : { holder, etag: taken.etag };
}

/** Extends a lease still held; false when another server has taken it since. */
export async function renewLease(store: Store, lease: Lease, now: Clock, ttlMs: number): Promise<boolean> {
  const renewed = await store.putMeta(LEASE, Buffer.from(JSON.stringify({ holder: lease.holder, expiresAt: now() + ttlMs } satisfies LeaseBody)), { ifEtag: lease.etag });
  if (renewed === 'conflict') return false;
  lease.etag = renewed.etag;
  return true;
}

/** Lets another server collect at once (an expired lease, written only if still ours). */
export async function releaseLease(store: Store, lease: Lease): Promise<void> {
  await store.putMeta(LEASE, Buffer.from(JSON.stringify({ holder: lease.holder, expiresAt: 0 } satisfies LeaseBody)), { ifEtag: lease.etag });
}
