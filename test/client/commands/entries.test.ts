import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { TokenTable } from '../../../server/auth/access.ts';
import { runLarder } from '../../helpers/cli.ts';
import { spawnServer } from '../../helpers/server-process.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { buildSampleTree } from '../../helpers/trees.ts';

// Operators fix a bad entry: list what a namespace holds, delete one entry with a token
// that may write it; the server logs which token deleted what.

t.test('ls lists entries newest first; delete removes one, only with write access, and the server logs it', async (t) => {
  const dir = tempDir(t, 'ops');
  const tokens = join(dir, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({
    tokens: [
      { name: 'ci-main', sha256: TokenTable.hash('t-main'), grants: [{ namespaces: 'acme', access: 'read-write', keyPrefixes: ['main-'] }] },
      { name: 'ci-pr', sha256: TokenTable.hash('t-pr'), grants: [{ namespaces: 'acme', access: 'read', keyPrefixes: ['main-'] }] },
    ],
  }));
  const server = await spawnServer(t, ['--store', join(dir, 'store'), '--tokens', tokens]);
  const env = (token: string) => ({ LARDER_SERVER: server.url, LARDER_NAMESPACE: 'acme', LARDER_TOKEN: token });
  for (const key of ['main-npm-aaa', 'main-npm-bbb', 'main-pip-ccc']) {
    const project = tempDir(t, key);
    buildSampleTree(join(project, 'deps'));
    const saved = await runLarder(['save', '--key', key, '--path', 'deps'], { cwd: project, env: env('t-main') });
    t.equal(saved.code, 0, saved.stderr);
    await new Promise((resolve) => setTimeout(resolve, 20)); // distinct creation times
  }

  const all = await runLarder(['ls'], { cwd: dir, env: env('t-pr') });
  t.equal(all.code, 0, all.stderr);
  const lines = all.stdout.trim().split('\n');
  t.match(lines[0], /^KEY +AGE +FILES +SIZE +STORED$/);
  t.same(lines.slice(1).map((l) => l.split(/ +/)[0]), ['main-pip-ccc', 'main-npm-bbb', 'main-npm-aaa'], 'newest first');
  t.match(lines[1], /^main-pip-ccc +0m +10 +3\.1 MB +0\.0 MB$/, 'age, files, bytes restored, bytes stored');

  const npm = await runLarder(['ls', 'main-npm-', '--json'], { cwd: dir, env: env('t-pr') });
  t.same(JSON.parse(npm.stdout).entries.map((e: { key: string }) => e.key), ['main-npm-bbb', 'main-npm-aaa'], 'a prefix narrows it');

  const refused = await runLarder(['delete', 'main-npm-bbb'], { cwd: dir, env: env('t-pr') });
  t.equal(refused.code, 1, 'a read-only token cannot delete');
  t.match(refused.stderr, /larder delete: LARDER_FORBIDDEN: .*token ci-pr may not write key main-npm-bbb/);

  const deleted = await runLarder(['delete', 'main-npm-bbb'], { cwd: dir, env: env('t-main') });
  t.equal(deleted.code, 0, deleted.stderr);
  t.match(deleted.stderr, /deleted main-npm-bbb from acme/);
  t.same(JSON.parse((await runLarder(['ls', 'main-npm-', '--json'], { cwd: dir, env: env('t-pr') })).stdout).entries.map((e: { key: string }) => e.key), ['main-npm-aaa']);
  t.match(server.stderr() + (server.child.stdout?.read()?.toString() ?? ''), /"namespace":"acme","key":"main-npm-bbb","token":"ci-main".*"msg":"entry deleted"/, 'the server logs who deleted what');

  const again = await runLarder(['delete', 'main-npm-bbb'], { cwd: dir, env: env('t-main') });
  t.equal(again.code, 1);
  t.match(again.stderr, /LARDER_ENTRY_NOT_FOUND: no entry main-npm-bbb in acme/);
  t.equal((await runLarder(['delete', 'not a key'], { cwd: dir, env: env('t-main') })).code, 2, 'a malformed key is a usage error');
  t.equal((await runLarder(['delete'], { cwd: dir, env: env('t-main') })).code, 2);
});
