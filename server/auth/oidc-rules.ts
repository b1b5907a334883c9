import { type Grant, globRegExp, grantProblem } from './access.ts';

// Which OIDC identities get which grants. GitHub Actions signs, for each job, a token
// whose claims say which repository, event and ref it runs for; a rule matches those
// claims and grants keys, with `{pr}` in a key prefix standing for the pull request's
// number (from `ref: refs/pull/<n>/merge`). So each pull request writes only its own
// `pr-<n>-` keys: a credential the pull request's code cannot forge for another one.

export interface OidcRule {
  name: string;
  /** the issuer, exactly as in the tokens' `iss` claim: https://token.actions.githubusercontent.com */
  issuer: string;
  /** the audience the job asked its token for (`LARDER_OIDC_AUDIENCE`) */
  audience: string;
  /** every claim named must match, `*` matching any run of characters */
  claims: Record<string, string>;
  /** held by jobs that do not trust each other: see access.ts */
  untrusted?: boolean;
  grants: Grant[];
}

// Anyone can get a GitHub token for any audience from their own repository, so a rule
// must pin whose jobs it means, with at least one of these claims, wildcard-free.
const PINNING_CLAIMS = ['sub', 'repository', 'repository_id', 'repository_owner', 'repository_owner_id'];

export function checkOidcRules(value: unknown, fail: (message: string) => never): OidcRule[] {
  if (!Array.isArray(value)) return fail('oidc must be a list of rules');
  for (const [i, rule] of (value as OidcRule[]).entries()) {
    const where = `oidc rule ${i} (${String(rule?.name)})`;
    if (typeof rule?.name !== 'string' || rule.name === '') fail(`${where}: needs a name`);
    if (!issuerAcceptable(rule.issuer)) fail(`${where}: issuer must be an https URL (http only on loopback)`);
    if (typeof rule.audience !== 'string' || rule.audience === '') fail(`${where}: needs an audience, the one the jobs ask their token for`);
    const claims = rule.claims as unknown;
    if (typeof claims !== 'object' || claims === null || Object.values(claims).some((v) => typeof v !== 'string')) fail(`${where}: claims must map claim names to strings`);
    if (!PINNING_CLAIMS.some((c) => typeof rule.claims[c] === 'string' && !rule.claims[c].includes('*'))) {
      fail(`${where}: claims must pin whose jobs these are with an exact ${PINNING_CLAIMS.join(', ')}; anyone can mint a token for any audience`);
    }
    if (rule.untrusted !== undefined && typeof rule.untrusted !== 'boolean') fail(`${where}: untrusted must be true or false`);
    const problem = grantProblem(rule.grants, true);
    if (problem) fail(`${where}: ${problem}`);
    if (rule.grants.length === 0) fail(`${where}: grants nothing`);
  }
  return value as OidcRule[];
}

/** https, or http on loopback (a local issuer, for tests) */
function issuerAcceptable(issuer: unknown): boolean {
  if (typeof issuer !== 'string') return false;
  try {
    const url = new URL(issuer);
    return url.protocol === 'https:' || (url.protocol === 'http:' && ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname));
  } catch {
    return false;
  }
}

/** The pull request a GitHub ref names (`refs/pull/7/merge`), if any. */
export function pullRequestOf(ref: unknown): string | undefined {
  return typeof ref === 'string' ? /^refs\/pull\/([1-9][0-9]{0,9})\/(merge|head)$/.exec(ref)?.[1] : undefined;
}

/** Do the token's claims satisfy the rule's? A rule using {pr} also needs a pull request ref. */
export function claimsMatch(rule: OidcRule, claims: Record<string, unknown>): boolean {
  const needsPr = rule.grants.some((g) => g.keyPrefixes?.some((p) => p.includes('{pr}')));
  if (needsPr && pullRequestOf(claims.ref) === undefined) return false;
  return Object.entries(rule.claims).every(([name, pattern]) => {
    const value = claims[name];
    const text = typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
    return text !== undefined && globRegExp(pattern, '.*').test(text);
  });
}
