import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { parse } from 'yaml';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';

// The README's CI recipes, run as written: each step's commands in bash, in a fresh
// checkout with a fresh HOME (a fresh runner), against a real server and a real
// `npm ci`. Three builds: lockfile v1 (a miss), v2 with one more dependency (the
// lockfile changed), v2 again (an exact hit). Each build's `npm test` fails unless
// node_modules holds every dependency of its lockfile, so a stale tree cannot pass.
// Only the step that installs larder itself is left out (it clones from the network);
// the recipes' larder checkout is this one.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const README = readFileSync(join(REPO, 'README.md'), 'utf8');
const NAMESPACE = 'acme-payments';

interface Recipe {
  name: string;
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

/**
 * Runs one shell line as a CI runner would; the recipe's larder checkout is this
 * repository. Asynchronously: the server under test lives in this process.
 */
function shell(line: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number; output: string }> {
  const command = line.replaceAll('/opt/larder/', REPO).replaceAll('/tmp/larder/', REPO);
  return new Promise((resolve) => {
    const child = spawn('bash', ['-eo', 'pipefail', '-c', command], { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = `$ ${line}\n`;
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('close', (code) => resolve({ code: code ?? 1, output }));
  });
}

function codeBuild(spec: { env: { variables: Record<string, string> }; phases: Record<string, { commands?: string[] }> }): Recipe {
  return {
    name: 'CodeBuild buildspec',
    async build(project, env) {
      let log = '';
      // install only clones larder; this repository stands in for it
      for (const phase of ['pre_build', 'build', 'post_build']) {
        for (const line of spec.phases[phase]?.commands ?? []) {
          const { code, output } = await shell(line, project, { ...env, ...spec.env.variables, LARDER_SERVER: env.LARDER_SERVER });
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

function githubActions(name: string, steps: Step[]): Recipe {
  return {
    name,
    async build(project, env) {
      let log = '';
      const outputs: Record<string, Record<string, string>> = {};
      for (const [i, step] of steps.entries()) {
        if (step.uses || step.name === 'Install larder' || !step.run) continue;
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

function recipes(): Recipe[] {
  const [buildspec, job, split] = yamlBlocks() as [Parameters<typeof codeBuild>[0], { jobs: { test: { steps: Step[] } } }, { steps: Step[] }];
  return [codeBuild(buildspec), githubActions('GitHub Actions job', job.jobs.test.steps), githubActions('GitHub Actions steps with cache-hit', split.steps)];
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
  t.ok(split?.steps, 'GitHub Actions steps');
});

for (const recipe of recipes()) {
  t.test(`${recipe.name}: right for a miss, a lockfile change and an exact hit`, async (t) => {
    const { url } = await startServer(t);
    const npmCache = tempDir(t, 'npm-cache');
    // The lockfiles, made once, as a developer commits them.
    const locks: Record<string, string> = {};
    for (const [name, deps] of Object.entries({ V1, V2 })) {
      const dir = tempDir(t, `lock-${name}`);
      writeFileSync(join(dir, 'package.json'), packageJson(deps));
      const made = await shell('npm install --package-lock-only --ignore-scripts', dir, npmEnv(process.env, npmCache, dir));
      t.equal(made.code, 0, made.output);
      locks[name] = readFileSync(join(dir, 'package-lock.json'), 'utf8');
    }

    const build = async (version: 'V1' | 'V2'): Promise<string> => {
      const runner = tempDir(t, `runner-${version}`); // a fresh machine: its own HOME and checkout
      const project = join(runner, 'checkout');
      mkdirSync(project);
      writeFileSync(join(project, 'package.json'), packageJson(version === 'V1' ? V1 : V2));
      writeFileSync(join(project, 'package-lock.json'), locks[version] as string);
      const env = { ...npmEnv(process.env, npmCache, runner), LARDER_SERVER: url, LARDER_NAMESPACE: NAMESPACE, RUNNER_TEMP: runner, CI: 'true' };
      const log = await recipe.build(project, env);
      t.ok(existsSync(join(project, 'node_modules/is-number')), `${version}: is-number is installed`);
      t.equal(existsSync(join(project, 'node_modules/ms')), version === 'V2', `${version}: ms is there exactly when the lockfile has it`);
      return log;
    };

    const first = await build('V1');
    t.match(first, /added \d+ package/, 'v1, a miss: npm ci ran');
    t.match(first, /larder save: saved npm-/, 'and the tree was saved');

    const changed = await build('V2');
    t.match(changed, /added \d+ package/, 'v2, the lockfile changed: npm ci ran');
    t.match(changed, /larder save: saved npm-/, 'and the new tree was saved');
    t.notMatch(changed, /prefix hit/, 'no restore-key hit was restored only for npm ci to delete it');

    const again = await build('V2');
    t.notMatch(again, /added \d+ package/, 'v2 again: an exact hit, npm ci did not run');
    t.match(again, /exact hit npm-/);

    const listed = (await (await fetch(`${url}/v1/ns/${NAMESPACE}/entries`)).json()) as { entries: unknown[] };
    t.equal(listed.entries.length, 2, 'one entry per lockfile');
  });
}

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
