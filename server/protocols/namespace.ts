import type { Access } from '../auth/access.ts';

/**
 * The namespace a token's caches live in when the protocol names none: the one namespace
 * its grants name, when they name exactly one without a wildcard; else the protocol's own
 * (`gha` for GitHub Actions, `turbo`, `nx`).
 */
export function namespaceFor(access: Access, fallback: string): string {
  const names = access.namespaces();
  return names.length === 1 && !names[0]?.includes('*') ? (names[0] as string) : fallback;
}
