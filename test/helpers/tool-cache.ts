import { TokenTable } from '../../server/auth/access.ts';
import { type RunningServer, startServer } from './server.ts';

// A larder server as the other tools' caches see it: a token that writes namespace
// `team`, one that only reads it, and an admin token to read /v1/stats and /metrics.

export const WRITER = 'tool-writer-token';
export const READER = 'tool-reader-token';
export const ADMIN = 'tool-admin-token';

export function toolServer(t: Parameters<typeof startServer>[0]): Promise<RunningServer> {
  return startServer(t, {
    tokens: new TokenTable({
      tokens: [
        { name: 'writer', sha256: TokenTable.hash(WRITER), grants: [{ namespaces: 'team', access: 'read-write' }] },
        { name: 'reader', sha256: TokenTable.hash(READER), grants: [{ namespaces: 'team', access: 'read' }] },
        { name: 'admin', sha256: TokenTable.hash(ADMIN), admin: true },
      ],
    }),
  });
}

/** One protocol's line of /v1/stats. */
export async function protocolStats(server: RunningServer, protocol: string): Promise<{ hits: number; misses: number; writes: number; bytesIn: number; bytesOut: number } | undefined> {
  const stats = (await server.app.inject({ url: '/v1/stats', headers: { authorization: `Bearer ${ADMIN}` } })).json() as { protocols: Record<string, { hits: number; misses: number; writes: number; bytesIn: number; bytesOut: number }> };
  return stats.protocols[protocol];
}
