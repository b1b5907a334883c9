import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LarderError } from '../../shared/errors.ts';
import { Access, type TokenTable } from './access.ts';
import { OidcVerifier } from './oidc.ts';

// Authentication: every request but the probes carries `Authorization: Bearer <token>`
// when the server has tokens; an unknown or missing token is 401. A token is looked up
// by its hash; one not there that is shaped like a JWT is checked as an OIDC token
// against the tokens file's OIDC rules. What the token may do (403) is decided by each route, after it
// has validated the namespace and key.

// '/' is the dashboard page, which holds no data; /client/ serves the public client;
// /gha/blobs/ URLs are capabilities, signed and checked by their route (server/protocols/gha)
const OPEN_ROUTES = new Set(['/healthz', '/readyz', '/', '/client/', '/client/:name', '/gha/blobs/:capability']);
const OPEN = Access.all('open server');
const ANONYMOUS = new Access('(anonymous)', false, []);

declare module 'fastify' {
  interface FastifyRequest {
    access: Access;
  }
}

export function installAuth(app: FastifyInstance, tokens: TokenTable | undefined): void {
  const oidc = tokens?.oidcRules.length ? new OidcVerifier(tokens.oidcRules) : undefined;
  app.decorateRequest('access', null as unknown as Access);
  app.addHook('onRequest', async (request: FastifyRequest) => {
    request.access = tokens ? ANONYMOUS : OPEN;
    // A CORS preflight (Turborepo's TURBO_PREFLIGHT) carries no credentials, by design.
    if (!tokens || OPEN_ROUTES.has(request.routeOptions.url ?? '') || request.method === 'OPTIONS') return;
    const token = bearerOrBasic(request.headers.authorization);
    if (!token) throw new LarderError('LARDER_UNAUTHORIZED', 'this server needs Authorization: Bearer <token>');
    // The tokens file first: a static token may happen to look like a JWT.
    const access = tokens.find(token) ?? (oidc && OidcVerifier.looksLikeJwt(token) ? await oidc.access(token) : undefined);
    if (!access) throw new LarderError('LARDER_UNAUTHORIZED', 'the token is not known to this server');
    request.access = access;
  });
}

/**
 * The token: `Bearer <token>`, or HTTP Basic with the token as the password (Gradle's
 * build cache sends only Basic credentials; the user name is free).
 */
function bearerOrBasic(header: string | undefined): string | undefined {
  const bearer = /^Bearer (\S+)$/.exec(header ?? '')?.[1];
  if (bearer) return bearer;
  const basic = /^Basic ([A-Za-z0-9+/=]+)$/.exec(header ?? '')?.[1];
  if (!basic) return undefined;
  const decoded = Buffer.from(basic, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon >= 0 && colon < decoded.length - 1 ? decoded.slice(colon + 1) : undefined;
}
