import { SignJWT } from 'jose';
import t from 'tap';
import { checkTokensFile, TokenTable, type TokensFile } from '../../../server/auth/access.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import { injectableApp, manifestFor } from '../../helpers/app.ts';
import { githubClaims, type Issuer, startIssuer } from '../../helpers/external/oidc-issuer.ts';

// Per-pull-request isolation: GitHub signs each job's token with its repository, event
// and ref; the server grants `pr-{pr}-` from that signed ref, so pull request 7 can
// write only pr-7- keys, whatever its code does. Checked against a real local issuer.

const NS = 'acme-web';
const REPO = 'acme/web';

function rules(issuer: string): TokensFile {
  return {
    tokens: [{ name: 'admin', sha256: TokenTable.hash('t-admin'), admin: true }],
    oidc: [
      { name: 'github-main', issuer, audience: 'larder', claims: { repository: REPO, event_name: 'push', ref: 'refs/heads/main' }, grants: [{ namespaces: NS, access: 'read-write', keyPrefixes: ['main-'] }] },
      {
        name: 'github-pr',
        issuer,
        audience: 'larder',
        claims: { repository: REPO, event_name: 'pull_request' },
        grants: [{ namespaces: NS, access: 'read', keyPrefixes: ['main-'] }, { namespaces: NS, access: 'read-write', keyPrefixes: ['pr-{pr}-'] }],
      },
    ],
  };
}

async function setup(t: { teardown: (fn: () => Promise<void> | void) => void }) {
  const issuer = await startIssuer(t);
  const { app } = await injectableApp(t, { tokens: new TokenTable(checkTokensFile(rules(issuer.url))) });
  const data = Buffer.from('a part');
  const digest = sha256Digest(data);
  await app.inject({ method: 'PUT', url: `/v1/ns/${NS}/blobs/${digest}`, headers: { authorization: 'Bearer t-admin', 'content-type': 'application/octet-stream' }, payload: data });
  const publish = async (jwt: string, key: string) => app.inject({ method: 'PUT', url: `/v1/ns/${NS}/entries/${key}`, headers: { authorization: `Bearer ${jwt}` }, payload: manifestFor(key, [digest]) });
  const lookup = async (jwt: string, key: string) => app.inject({ method: 'POST', url: `/v1/ns/${NS}/lookup`, headers: { authorization: `Bearer ${jwt}` }, payload: { key } });
  return { issuer, app, publish, lookup };
}

t.test('a pull request writes only its own pr-<n>- keys, reads main-; main writes main-', async (t) => {
  const { issuer, publish, lookup } = await setup(t);
  const pr7 = await issuer.mint({ ...githubClaims(REPO, 'pull_request', 'refs/pull/7/merge'), aud: 'larder' });
  const pr8 = await issuer.mint({ ...githubClaims(REPO, 'pull_request', 'refs/pull/8/merge'), aud: 'larder' });
  const main = await issuer.mint({ ...githubClaims(REPO, 'push', 'refs/heads/main'), aud: 'larder' });

  t.equal((await publish(pr7, 'pr-7-npm-abc')).statusCode, 201, 'its own key');
  const preempt = await publish(pr7, 'pr-8-npm-abc');
  t.equal(preempt.statusCode, 403, "another pull request's key is refused");
  t.match(preempt.json().message, /github-pr #7 may not write key pr-8-npm-abc/);
  t.equal((await publish(pr7, 'main-npm-abc')).statusCode, 403, 'the trusted tier is refused');
  t.equal((await publish(main, 'main-npm-abc')).statusCode, 201, 'main publishes main-');
  t.equal((await lookup(pr8, 'main-npm-abc')).json().match, 'exact', 'pull requests read main-');
  t.equal((await lookup(pr8, 'pr-7-npm-abc')).statusCode, 403, "and not each other's keys");
  t.equal((await publish(pr8, 'pr-8-npm-abc')).statusCode, 201, 'so pull request 8 still publishes its own key');
});

t.test('tokens that prove nothing are 401', async (t) => {
  const { issuer, publish } = await setup(t);
  const claims = githubClaims(REPO, 'pull_request', 'refs/pull/7/merge');
  const cases: Array<[string, string]> = [
    ['expired', await issuer.mint({ ...claims, aud: 'larder' }, { expiresIn: '-5m' })],
    ['for another audience', await issuer.mint({ ...claims, aud: 'someone-else' })],
    ['signed by another key', await issuer.mint({ ...claims, aud: 'larder' }, { key: 'stranger' })],
    ['from another repository', await issuer.mint({ ...githubClaims('evil/web', 'pull_request', 'refs/pull/7/merge'), aud: 'larder' })],
    ['a pull request rule without a pull request ref', await issuer.mint({ ...claims, ref: 'refs/heads/feature', aud: 'larder' })],
    ['unsigned (alg none)', `${b64({ alg: 'none', typ: 'JWT' })}.${b64({ ...claims, aud: 'larder', iss: issuer.url, exp: now() + 300 })}.x0`],
    ['HS256 with the public key as secret', await new SignJWT({ ...claims, aud: 'larder' }).setProtectedHeader({ alg: 'HS256' }).setIssuer(issuer.url).setExpirationTime('5m').sign(new TextEncoder().encode('k1'))],
    ['from an issuer this server does not trust', await new SignJWT({ ...claims, aud: 'larder' }).setProtectedHeader({ alg: 'HS256' }).setIssuer('https://evil.example').setExpirationTime('5m').sign(new TextEncoder().encode('secret'))],
  ];
  for (const [what, jwt] of cases) {
    const res = await publish(jwt, 'pr-7-npm-abc');
    t.equal(res.statusCode, 401, what);
    t.equal(res.json().code, 'LARDER_UNAUTHORIZED', what);
  }
});

t.test('an issuer that cannot be reached is 503 (try again), and is asked again once it is back', async (t) => {
  const { issuer, publish } = await setup(t);
  const jwt = await issuer.mint({ ...githubClaims(REPO, 'pull_request', 'refs/pull/7/merge'), aud: 'larder' });
  await issuer.down();
  const down = await publish(jwt, 'pr-7-npm-abc');
  t.equal(down.statusCode, 503);
  t.equal(down.json().code, 'LARDER_ISSUER_UNREACHABLE');
  await issuer.up();
  t.equal((await publish(jwt, 'pr-7-npm-abc')).statusCode, 201);
});

t.test('the tokens file refuses rules that would let anyone in', async (t) => {
  const base = { name: 'r', issuer: 'https://token.actions.githubusercontent.com', audience: 'larder', grants: [{ namespaces: NS, access: 'read' }] };
  const refused: Array<[string, unknown, RegExp]> = [
    ['no pinning claim', { ...base, claims: { event_name: 'pull_request' } }, /must pin whose jobs/],
    ['a wildcard repository only', { ...base, claims: { repository: 'acme/*' } }, /must pin whose jobs/],
    ['http off loopback', { ...base, issuer: 'http://issuer.example', claims: { repository: REPO } }, /https URL/],
    ['no audience', { ...base, audience: '', claims: { repository: REPO } }, /audience/],
    ['a bad template', { ...base, claims: { repository: REPO }, grants: [{ namespaces: NS, access: 'read-write', keyPrefixes: ['pr-{pr}/'] }] }, /keyPrefixes/],
  ];
  for (const [what, rule, message] of refused) {
    t.throws(() => checkTokensFile({ tokens: [], oidc: [rule] }), { code: 'LARDER_USAGE', message }, what);
  }
  t.ok(checkTokensFile({ tokens: [], oidc: [{ ...base, claims: { repository_owner: 'acme', ref: 'refs/heads/*' } }] }), 'an exact owner pins it');
});

function b64(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}
function now(): number {
  return Math.floor(Date.now() / 1000);
}
