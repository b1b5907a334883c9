import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWTPayload, SignJWT } from 'jose';

// A real OIDC issuer on loopback, the way GitHub Actions is one: a discovery document,
// a key set, RS256-signed tokens; and GitHub's per-job token endpoint
// (ACTIONS_ID_TOKEN_REQUEST_URL), which hands a job its token for an audience.

export interface Issuer {
  url: string;
  /** a signed token with these claims (iss and a 5-minute exp unless given) */
  mint(claims: JWTPayload, options?: { expiresIn?: string; key?: 'own' | 'stranger' }): Promise<string>;
  /** what a job's environment holds with `id-token: write`, for a job with these claims */
  jobEnv(claims: JWTPayload): { ACTIONS_ID_TOKEN_REQUEST_URL: string; ACTIONS_ID_TOKEN_REQUEST_TOKEN: string };
  /** token requests served so far */
  tokenRequests: number;
  down(): Promise<void>;
  up(): Promise<void>;
}

export async function startIssuer(t: { teardown: (fn: () => Promise<void> | void) => void }): Promise<Issuer> {
  const own = await generateKeyPair('RS256');
  const stranger = await generateKeyPair('RS256');
  const jwk = { ...(await exportJWK(own.publicKey)), kid: 'k1', alg: 'RS256', use: 'sig' };
  const jobs = new Map<string, JWTPayload>();
  let port = 0;
  let server: Server | undefined;
  const issuer: Issuer = {
    url: '',
    tokenRequests: 0,
    async mint(claims, { expiresIn = '5m', key = 'own' } = {}) {
      return new SignJWT(claims)
        .setProtectedHeader({ alg: 'RS256', kid: 'k1', typ: 'JWT' })
        .setIssuer(issuer.url)
        .setIssuedAt()
        .setExpirationTime(expiresIn)
        .sign(key === 'own' ? own.privateKey : stranger.privateKey);
    },
    jobEnv(claims) {
      const requestToken = `job-${jobs.size + 1}`;
      jobs.set(requestToken, claims);
      return { ACTIONS_ID_TOKEN_REQUEST_URL: `${issuer.url}/token?api-version=2.0`, ACTIONS_ID_TOKEN_REQUEST_TOKEN: requestToken };
    },
    async down() {
      await new Promise((resolve) => server?.close(resolve));
      server?.closeAllConnections();
      server = undefined;
    },
    async up() {
      server = createServer((req, res) => {
        const url = new URL(req.url ?? '/', issuer.url);
        const json = (status: number, body: unknown) => res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
        if (url.pathname === '/.well-known/openid-configuration') return json(200, { issuer: issuer.url, jwks_uri: `${issuer.url}/jwks` });
        if (url.pathname === '/jwks') return json(200, { keys: [jwk] });
        if (url.pathname === '/token') {
          const job = jobs.get(/^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1] ?? '');
          const audience = url.searchParams.get('audience');
          if (!job || !audience) return json(401, { message: 'bad request token' });
          issuer.tokenRequests++;
          void issuer.mint({ ...job, aud: audience }).then((value) => json(200, { value }));
          return;
        }
        json(404, {});
      });
      await new Promise<void>((resolve) => server?.listen(port, '127.0.0.1', resolve));
      port = (server.address() as AddressInfo).port;
      issuer.url = `http://127.0.0.1:${port}`;
    },
  };
  await issuer.up();
  t.teardown(() => issuer.down());
  return issuer;
}

/** The claims GitHub Actions puts in a job's token (the ones larder's rules use). */
export function githubClaims(repository: string, event: 'push' | 'pull_request', ref: string): JWTPayload {
  return { sub: `repo:${repository}:${event === 'pull_request' ? 'pull_request' : `ref:${ref}`}`, repository, repository_owner: repository.split('/')[0], event_name: event, ref };
}
