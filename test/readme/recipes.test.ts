import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t, { type Test } from 'tap';
import { parse } from 'yaml';
import { buildClientPackage } from '../../client/package/build.ts';
import { checkTokensFile, TokenTable } from '../../server/auth/access.ts';
import { nodeOfMajor } from '../helpers/external/node-versions.ts';
import { githubClaims, type Issuer, startIssuer } from '../helpers/external/oidc-issuer.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';

// The README's CI recipes, run as written: each step's commands in bash, in a fresh
// checkout with a fresh HOME (a fresh runner), against a real server and a real
// `npm ci`. Three builds: lockfile v1 (a miss), v2 with one more dependency (the
// lockfile changed), v2 again (an exact hit). Each build's `npm test` fails unless
// node_modules holds every dependency of its lockfile, so a stale tree cannot pass.
// Every step runs, the client's install from the server included: the server serves the
// package built from this checkout, and `npm i -g` goes to the runner's own prefix. The
// CodeBuild runtime's Node version is the one its buildspec names. The server runs with
// the README's own tokens file; GitHub's OIDC issuer and each job's token endpoint are a
// real local issuer.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const NAMESPACE = 'acme-payments';

interface Recipe {
  name: string;
  /** the job's environment as its YAML sets it, for a push to main or a pull request */
  env: (event: Event, issuer: Issuer) => NodeJS.ProcessEnv;
  /** runs one build in the project folder; returns what each step printed */
  build: (project: string, env: NodeJS.ProcessEnv) => Promise<string>;
}

function ciSection(): string {
  const start = README.indexOf('## In CI\n');
  return README.slice(start, README.indexOf('\n## ', start + 1));
}

function yamlBlocks(): unknown[] {
  return [...ciSection().matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => parse(m[1] as string));
}

/** The README's tokens file, with test tokens for its placeholders and the local issuer for GitHub's. */
function readmeTokens(issuer: Issuer): TokenTable {
  const security = readFileSync(join(REPO, 'docs', 'security.md'), 'utf8');
  const json = /```json\n([\s\S]*?)```/.exec(security)?.[1] ?? '';
  const filled = json
    .replace('<sha256 of the admin token>', TokenTable.hash(TOKENS.admin))
    .replace('<sha256 of the trusted-branch token>', TokenTable.hash(TOKENS.main))
    .replace('<sha256 of the PR token>', TokenTable.hash(TOKENS.pr))
    .replaceAll('https://token.actions.githubusercontent.com', issuer.url);
  return new TokenTable(checkTokensFile(JSON.parse(filled)));
}

const TOKENS = { admin: 't-admin', main: 't-codebuild-main', pr: 't-codebuild-pr' };

type Event = { push: 'main' } | { pullRequest: number };

/** Runs one shell line as a CI runner would. Asynchronously: the server under test lives in this process. */
function shell(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-eo', 'pipefail', '-c', line], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = `$ ${line}\n`;
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

type Buildspec = { env: { variables: Record<string, string>; 'secrets-manager': Record<string, string> }; phases: Record<string, { commands?: string[]; 'runtime-versions'?: Record<string, number> }> };

function codeBuild(spec: Buildspec): Recipe {
  return {
    name: 'CodeBuild buildspec',
    // the secret it names holds the trusted-branch token
    env: () => ({ ...spec.env.variables, ...Object.fromEntries(Object.keys(spec.env['secrets-manager']).map((name) => [name, TOKENS.main])) }),
    async build(project, env) {
      let log = '';
      // runtime-versions: that Node first on PATH
      const major = spec.phases.install?.['runtime-versions']?.nodejs;
      const runtime = major === undefined ? env : { ...env, PATH: `${dirname(nodeOfMajor(major))}:${env.PATH}` };
      log += (await shell('node --version', project, runtime)).output; // the runtime the buildspec asked for
      for (const phase of ['install', 'pre_build', 'build', 'post_build']) {
        for (const line of spec.phases[phase]?.commands ?? []) {
          const { code, output } = await shell(line, project, runtime);
          log += output;
          if (code !== 0) throw new Error(`${phase} failed (exit ${code}):\n${log}`);
        }
      }
      return log;
    },
  };
}

interface Step {
  id?: string;
  name?: string;
  if?: string;
  run?: string;
  uses?: string;
}

/** The job-level env of a GitHub Actions job, its expressions evaluated for one event. */
function githubEnv(yamlEnv: Record<string, string>, event: Event, issuer: Issuer): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(yamlEnv)) {
    if (value === "${{ github.event_name == 'pull_request' && format('pr-{0}-', github.event.number) || 'main-' }}") env[name] = 'pullRequest' in event ? `pr-${event.pullRequest}-` : 'main-';
    else if (value === '${{ vars.LARDER_SERVER }}') continue; // the test's server
    else if (value.includes('${{')) throw new Error(`the test does not understand ${name}: ${value}`);
    else env[name] = value;
  }
  const claims = 'pullRequest' in event ? githubClaims('acme/payments', 'pull_request', `refs/pull/${event.pullRequest}/merge`) : githubClaims('acme/payments', 'push', 'refs/heads/main');
  return { ...env, ...issuer.jobEnv(claims) };
}

function githubActions(name: string, steps: Step[], env: Recipe['env']): Recipe {
  return {
    name,
    env,
    async build(project, env) {
      let log = '';
      const outputs: Record<string, Record<string, string>> = {};
      for (const [i, step] of steps.entries()) {
        if (step.uses || !step.run) continue;
        if (step.if && !condition(step.if, outputs)) {
          log += `(skipped: ${step.run})\n`;
          continue;
        }
        const outputFile = join(env.RUNNER_TEMP as string, `output-${i}`);
        writeFileSync(outputFile, '');
        const { code, output } = await shell(step.run, project, { ...env, GITHUB_OUTPUT: outputFile });
        log += output;
        if (code !== 0) throw new Error(`step ${i} failed (exit ${code}):\n${log}`);
        if (step.id) outputs[step.id] = Object.fromEntries(readFileSync(outputFile, 'utf8').split('\n').filter(Boolean).map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
      }
      return log;
    },
  };
}

/** The `if:` forms the recipes use: steps.ID.outputs.NAME == or != 'VALUE'. */
function condition(expression: string, outputs: Record<string, Record<string, string>>): boolean {
  const m = /^steps\.([\w-]+)\.outputs\.([\w-]+) (==|!=) '([^']*)'$/.exec(expression.trim());
  if (!m) throw new Error(`the test does not understand the condition ${expression}`);
  const value = outputs[m[1] as string]?.[m[2] as string] ?? '';
  return m[3] === '==' ? value === m[4] : value !== m[4];
}

type Job = { permissions: Record<string, string>; jobs: { test: { env: Record<string, string>; steps: Step[] } } };

function recipes(): Recipe[] {
  const [buildspec, job, split] = yamlBlocks() as [Buildspec, Job, { steps: Step[] }];
  const jobEnv = (event: Event, issuer: Issuer) => githubEnv(job.jobs.test.env, event, issuer);
  // The split steps are the same job's: they run with its env.
  return [codeBuild(buildspec), githubActions('GitHub Actions job', job.jobs.test.steps, jobEnv), githubActions('GitHub Actions steps with cache-hit', split.steps, jobEnv)];
}

// Two lockfiles: v2 adds one dependency. `npm test` requires every dependency.
const V1 = { 'is-number': '7.0.0' };
const V2 = { 'is-number': '7.0.0', ms: '2.1.3' };

function packageJson(deps: Record<string, string>): string {
  const requires = Object.keys(deps).map((d) => `require('${d}')`).join(';');
  return JSON.stringify({ name: 'recipe-app', private: true, scripts: { test: `node -e "${requires}"` }, dependencies: deps }, null, 2);
}

t.test('the README holds the three CI recipes this test runs', async (t) => {
  const [buildspec, job, split] = yamlBlocks() as Array<Record<string, unknown>>;
  t.ok(buildspec?.phases, 'a buildspec');
  t.ok(job?.jobs, 'a GitHub Actions job');
  t.equal((job as Job | undefined)?.permissions['id-token'], 'write', 'whose OIDC token isolates each pull request');
  t.ok(split?.steps, 'GitHub Actions steps');
});

/** A server with the README's tokens file, and the lockfiles v1 and v2 made once, as a developer commits them. */
async function setup(t: Tap): Promise<{ url: string; issuer: Issuer; locks: Record<string, string>; npmCache: string }> {
  const issuer = await startIssuer(t);
  const clientFiles = tempDir(t, 'client-files');
  await buildClientPackage(clientFiles);
  const { url } = await startServer(t, { tokens: readmeTokens(issuer), clientFiles });
  const npmCache = tempDir(t, 'npm-cache');
  const locks: Record<string, string> = {};
  for (const [name, deps] of Object.entries({ V1, V2 })) {
    const dir = tempDir(t, `lock-${name}`);
    writeFileSync(join(dir, 'package.json'), packageJson(deps));
    const made = await shell('npm install --package-lock-only --ignore-scripts', dir, npmEnv(process.env, npmCache, dir));
    t.equal(made.code, 0, made.output);
    locks[name] = readFileSync(join(dir, 'package-lock.json'), 'utf8');
  }
  return { url, issuer, locks, npmCache };
}
type Tap = Test;

/** One build on a fresh runner (its own HOME and checkout); checks node_modules holds exactly the lockfile's dependencies. */
async function build(t: Tap, recipe: Recipe, setupDone: Awaited<ReturnType<typeof setup>>, version: 'V1' | 'V2', event: Event): Promise<string> {
  const runner = tempDir(t, `runner-${version}`);
  const project = join(runner, 'checkout');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), packageJson(version === 'V1' ? V1 : V2));
  writeFileSync(join(project, 'package-lock.json'), setupDone.locks[version] as string);
  // `npm i -g` of the recipe installs into this runner's own prefix, on its PATH.
  const machine = npmEnv(process.env, setupDone.npmCache, runner);
  const global = join(runner, 'npm-global');
  const env = { ...machine, ...recipe.env(event, setupDone.issuer), npm_config_prefix: global, PATH: `${join(global, 'bin')}:${machine.PATH}`, LARDER_SERVER: setupDone.url, RUNNER_TEMP: runner, CI: 'true' };
  const log = await recipe.build(project, env);
  t.ok(existsSync(join(project, 'node_modules/is-number')), `${version}: is-number is installed`);
  t.equal(existsSync(join(project, 'node_modules/ms')), version === 'V2', `${version}: ms is there exactly when the lockfile has it`);
  t.ok(existsSync(join(global, 'bin', 'larder')), 'the client was installed from the server');
  // What the build did, without the client's own install (npm says "added 1 package" there too).
  return log.split(/^(?=\$ )/m).filter((step) => !step.includes('/client/larder.tgz')).join('');
}

async function entryKeys(url: string): Promise<string[]> {
  const res = await fetch(`${url}/v1/ns/${NAMESPACE}/entries`, { headers: { authorization: `Bearer ${TOKENS.admin}` } });
  return ((await res.json()) as { entries: Array<{ key: string }> }).entries.map((e) => e.key).sort();
}

for (const recipe of recipes()) {
  t.test(`${recipe.name}: right for a miss, a lockfile change and an exact hit`, async (t) => {
    const ready = await setup(t);
    const run = (version: 'V1' | 'V2') => build(t, recipe, ready, version, { push: 'main' });

    const first = await run('V1');
    if (recipe.name === 'CodeBuild buildspec') t.match(first, /\$ node --version\nv20\./, 'on the Node 20 its buildspec names');
    t.match(first, /added \d+ package/, 'v1, a miss: npm ci ran');
    t.match(first, /larder save: saved main-npm-/, 'and the tree was saved in the trusted tier');

    const changed = await run('V2');
    t.match(changed, /added \d+ package/, 'v2, the lockfile changed: npm ci ran');
    t.match(changed, /larder save: saved main-npm-/, 'and the new tree was saved');
    t.notMatch(changed, /prefix hit/, 'no restore-key hit was restored only for npm ci to delete it');

    const again = await run('V2');
    t.notMatch(again, /added \d+ package/, 'v2 again: an exact hit, npm ci did not run');
    t.match(again, /exact hit main-npm-/);

    t.equal((await entryKeys(ready.url)).length, 2, 'one entry per lockfile');
  });
}

t.test('GitHub Actions job: each pull request in its own tier, starting from main', async (t) => {
  const ready = await setup(t);
  const job = recipes().find((r) => r.name === 'GitHub Actions job') as Recipe;
  await build(t, job, ready, 'V1', { push: 'main' });

  const same = await build(t, job, ready, 'V1', { pullRequest: 7 });
  t.match(same, /exact hit main-npm-/, "a pull request that keeps main's lockfile restores main's tree as an exact hit");
  t.notMatch(same, /added \d+ package/, 'and skips npm ci');

  const changed = await build(t, job, ready, 'V2', { pullRequest: 7 });
  t.match(changed, /added \d+ package/, 'its lockfile change runs npm ci');
  t.match(changed, /larder save: saved pr-7-npm-/, 'and saves in its own tier');
  const again = await build(t, job, ready, 'V2', { pullRequest: 7 });
  t.match(again, /exact hit pr-7-npm-/, 'its next push restores its own entry');

  const other = await build(t, job, ready, 'V2', { pullRequest: 8 });
  t.match(other, /added \d+ package/, "pull request 8 never sees pull request 7's entry");
  t.match(other, /larder save: saved pr-8-npm-/);

  // Pull request 8 tries to plant an entry in pull request 9's tier, with its own job token.
  const project = tempDir(t, 'attacker');
  mkdirSync(join(project, 'node_modules/evil'), { recursive: true });
  writeFileSync(join(project, 'node_modules/evil/index.js'), 'planted');
  writeFileSync(join(project, 'package-lock.json'), ready.locks.V2 as string);
  const env = { ...npmEnv(process.env, ready.npmCache, project), ...job.env({ pullRequest: 8 }, ready.issuer), LARDER_SERVER: ready.url, LARDER_KEY_PREFIX: 'pr-9-' };
  const planted = await shell(`node ${REPO}bin/larder.js save --preset npm`, project, env); // the attacker's own client
  t.match(planted.output, /LARDER_FORBIDDEN: server: token github-pr #8 may not (read|write) key pr-9-npm-/, 'refused: its token is pull request 8\'s');
  t.same((await entryKeys(ready.url)).map((k) => k.replace(/-[0-9a-f]{16}$/, '')), ['main-npm-linux-x64-node22', 'pr-7-npm-linux-x64-node22', 'pr-8-npm-linux-x64-node22'].map((k) => k.replace('x64', process.arch).replace('node22', `node${process.versions.node.split('.')[0]}`)), 'one entry per tier');
});

/** The machine's environment (a runner inherits it: CA certificates, npm settings) with a fresh HOME. */
function npmEnv(env: NodeJS.ProcessEnv, cache: string, home: string): NodeJS.ProcessEnv {
  const userConfig = join(homedir(), '.npmrc');
  return {
    ...Object.fromEntries(Object.entries(env).filter(([name]) => !name.startsWith('LARDER_') && !name.startsWith('GITHUB_'))),
    PATH: `${dirname(process.execPath)}:${env.PATH ?? ''}`,
    HOME: home,
    ...(existsSync(userConfig) ? { npm_config_userconfig: userConfig } : {}),
    npm_config_cache: cache,
    npm_config_prefer_offline: 'true',
    npm_config_audit: 'false',
    npm_config_fund: 'false',
    npm_config_update_notifier: 'false',
  };
}
