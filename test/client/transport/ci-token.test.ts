import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runLarder } from '../../helpers/cli.ts';
import { githubClaims, startIssuer } from '../../helpers/external/oidc-issuer.ts';
import { spawnServer } from '../../helpers/server-process.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree } from '../../helpers/trees.ts';

// The client in a GitHub Actions job with `id-token: write`: it asks the job's token
// endpoint for a token for LARDER_OIDC_AUDIENCE and sends it; the server, a real process
// with OIDC rules, scopes the pull request to its own pr-<n>- keys.

t.test('a pull request job saves and restores its own keys with its OIDC token, and cannot write another pull request\'s', async (t) => {
  const issuer = await startIssuer(t);
  const dir = tempDir(t, 'oidc');
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({
    tokens: [],
    oidc: [{ name: 'github-pr', issuer: issuer.url, audience: 'larder', claims: { repository: 'acme/web', event_name: 'pull_request' }, grants: [{ namespaces: 'acme', access: 'read-write', keyPrefixes: ['pr-{pr}-'] }] }],
  }));
  const server = await spawnServer(t, ['--store', join(dir, 'store'), '--tokens', tokens]);
  const project = tempDir(t, 'project');
  buildSampleTree(join(project, 'deps'));
  const job = { LARDER_SERVER: server.url, LARDER_NAMESPACE: 'acme', LARDER_OIDC_AUDIENCE: 'larder', ...issuer.jobEnv(githubClaims('acme/web', 'pull_request', 'refs/pull/7/merge')) };

  const saved = await runLarder(['save', '--key', 'pr-7-deps-1', '--path', 'deps', '--strict'], { cwd: project, env: job });
  t.equal(saved.code, 0, saved.stderr);
  t.match(saved.stderr, /saved pr-7-deps-1/);
  const restored = await runLarder(['restore', '--key', 'pr-7-deps-1', '--path', 'deps', '--strict', '--json'], { cwd: project, env: job });
  t.equal(restored.code, 0, restored.stderr);
  t.equal(JSON.parse(restored.stdout).match, 'exact');
  t.ok(issuer.tokenRequests >= 2, 'each command asked the job for its token');

  const other = await runLarder(['save', '--key', 'pr-8-deps-1', '--path', 'deps'], { cwd: project, env: job });
  t.equal(other.code, 0, 'a cache refusal never fails the build');
  t.match(other.stderr, /LARDER_FORBIDDEN: server: token github-pr #7 may not (read|write) key pr-8-deps-1/);

  // A job without `id-token: write` (or a fork's pull request) has no token endpoint.
  const bare = { LARDER_SERVER: server.url, LARDER_NAMESPACE: 'acme', LARDER_OIDC_AUDIENCE: 'larder' };
  const ran = await runLarder(['run', '--key', 'pr-7-deps-2', '--path', 'deps', '--', 'sh', '-c', 'echo built > deps/marker'], { cwd: project, env: bare });
  t.equal(ran.code, 0, ran.stderr);
  t.match(ran.stderr, /give it `permissions: id-token: write`/, 'says what the job lacks');
  t.match(ran.stderr, /continuing without the cache/);
});
