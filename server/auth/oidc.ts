import { createRemoteJWKSet, decodeJwt, type JWTVerifyGetKey, jwtVerify } from 'jose';
import { LarderError } from '../../shared/errors.ts';
import { Access, compileGrant } from './access.ts';
import { claimsMatch, type OidcRule, pullRequestOf } from './oidc-rules.ts';

// Bearer tokens that are JWTs are checked against the issuers the tokens file trusts.
// jose does the verifying (signature, algorithm, expiry, issuer, audience) because that
// is where hand-written JWT code goes wrong; this file only finds each issuer's keys
// and turns a verified token's claims into grants.

const FETCH_TIMEOUT_MS = 5000;
const CLOCK_TOLERANCE_S = 60;
// A JWT is three base64url parts (the tokens file is asked first, whatever a token looks like).
const JWT_SHAPE = /^[A-Za-z0-9_-]{2,4096}\.[A-Za-z0-9_-]{2,8192}\.[A-Za-z0-9_-]{2,4096}$/;

export class OidcVerifier {
  readonly #rules: OidcRule[];
  readonly #keys = new Map<string, Promise<JWTVerifyGetKey>>();

  constructor(rules: OidcRule[]) {
    this.#rules = rules;
  }

  static looksLikeJwt(token: string): boolean {
    return JWT_SHAPE.test(token);
  }

  /** The token's access; 401 when it is not a valid token of a trusted issuer, or no rule matches. */
  async access(token: string): Promise<Access> {
    const refuse = (why: string) => new LarderError('LARDER_UNAUTHORIZED', `the OIDC token ${why}`);
    let issuer: unknown;
    try {
      issuer = decodeJwt(token).iss;
    } catch {
      throw refuse('is not a readable JWT');
    }
    const rules = this.#rules.filter((r) => r.issuer === issuer);
    if (rules.length === 0) throw refuse(`comes from an issuer this server does not trust (${JSON.stringify(issuer)})`);
    const keys = await this.#keysOf(String(issuer));
    let claims: Record<string, unknown>;
    try {
      ({ payload: claims } = await jwtVerify(token, keys, { issuer: String(issuer), audience: rules.map((r) => r.audience), algorithms: ['RS256', 'ES256'], clockTolerance: CLOCK_TOLERANCE_S, requiredClaims: ['exp'] }));
    } catch (err) {
      if (unreachable(err)) throw new LarderError('LARDER_ISSUER_UNREACHABLE', `could not fetch the keys of ${String(issuer)} to check an OIDC token; try again`, { cause: err });
      throw refuse(`was refused: ${(err as Error).message}`);
    }
    const audiences = [claims.aud].flat();
    const rule = rules.find((r) => audiences.includes(r.audience) && claimsMatch(r, claims));
    if (!rule) throw refuse(`(${String(claims.sub)}) matches no rule of this server`);
    const pr = pullRequestOf(claims.ref);
    const name = `${rule.name}${pr ? ` #${pr}` : ''}`;
    return new Access(name, false, rule.grants.map((g) => compileGrant(g, pr)), rule.untrusted === true);
  }

  /** The issuer's key set, found through its discovery document; forgotten on failure so the next request tries again. */
  #keysOf(issuer: string): Promise<JWTVerifyGetKey> {
    let keys = this.#keys.get(issuer);
    if (!keys) {
      keys = discover(issuer);
      this.#keys.set(issuer, keys);
      keys.catch(() => this.#keys.delete(issuer));
    }
    return keys;
  }
}

async function discover(issuer: string): Promise<JWTVerifyGetKey> {
  try {
    const res = await fetch(`${issuer.replace(/\/$/, '')}/.well-known/openid-configuration`, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    const jwksUri = ((await res.json()) as { jwks_uri?: unknown }).jwks_uri;
    if (typeof jwksUri !== 'string') throw new Error('its discovery document has no jwks_uri');
    return createRemoteJWKSet(new URL(jwksUri), { timeoutDuration: FETCH_TIMEOUT_MS });
  } catch (err) {
    throw new LarderError('LARDER_ISSUER_UNREACHABLE', `could not read the OIDC discovery document of ${issuer} (${(err as Error).message}); try again`, { cause: err });
  }
}

/** A failure to fetch keys, as opposed to a token found wanting. */
function unreachable(err: unknown): boolean {
  const { code, message } = err as { code?: string; message?: string };
  return code === 'ERR_JWKS_TIMEOUT' || code === 'ERR_JWKS_INVALID' || /JSON Web Key Set HTTP response/.test(message ?? '') || (err instanceof TypeError && !code);
}
