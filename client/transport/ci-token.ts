import { LarderError } from '../../shared/errors.ts';

// The job's own OIDC token, from GitHub Actions: a credential signed by GitHub that says
// which repository, event and pull request the job runs for, so the server can scope
// each pull request to its own keys (server/auth/oidc-rules.ts). Tokens live minutes,
// and a build may take longer, so one is fetched when needed and reused until near expiry.

export interface OidcSource {
  audience: string;
  /** ACTIONS_ID_TOKEN_REQUEST_URL and ACTIONS_ID_TOKEN_REQUEST_TOKEN, which a job has only with `id-token: write` */
  requestUrl: string | undefined;
  requestToken: string | undefined;
}

const REUSE_MARGIN_S = 60;
const FETCH_TIMEOUT_MS = 10_000;
let cached: { audience: string; token: string; expires: number } | undefined;

/** The bearer token to send: the static one, or the job's OIDC token when an audience is set. */
export async function bearerToken(token: string | undefined, oidc: OidcSource | undefined): Promise<string | undefined> {
  if (!oidc) return token;
  const now = Date.now() / 1000;
  if (cached && cached.audience === oidc.audience && cached.expires - REUSE_MARGIN_S > now) return cached.token;
  const value = await fetchToken(oidc);
  cached = { audience: oidc.audience, token: value, expires: expiryOf(value) ?? now + 5 * 60 };
  return value;
}

async function fetchToken({ audience, requestUrl, requestToken }: OidcSource): Promise<string> {
  if (!requestUrl || !requestToken) {
    throw new LarderError('LARDER_UNAUTHORIZED', 'no OIDC token: this job has no ACTIONS_ID_TOKEN_REQUEST_URL; give it `permissions: id-token: write` (pull requests from forks get none)');
  }
  const url = new URL(requestUrl);
  url.searchParams.set('audience', audience);
  let value: unknown;
  try {
    const res = await fetch(url, { headers: { authorization: `Bearer ${requestToken}`, accept: 'application/json' }, signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), redirect: 'error' });
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
    value = ((await res.json()) as { value?: unknown }).value;
  } catch (err) {
    throw new LarderError('LARDER_UNAUTHORIZED', `could not get the job's OIDC token (${(err as Error).message})`, { cause: err });
  }
  if (typeof value !== 'string' || !/^[\w-]+\.[\w-]+\.[\w-]+$/.test(value)) throw new LarderError('LARDER_UNAUTHORIZED', "the job's OIDC token endpoint answered no token");
  return value;
}

function expiryOf(jwt: string): number | undefined {
  try {
    const exp = (JSON.parse(Buffer.from(jwt.split('.')[1] ?? '', 'base64url').toString('utf8')) as { exp?: unknown }).exp;
    return typeof exp === 'number' ? exp : undefined;
  } catch {
    return undefined;
  }
}
