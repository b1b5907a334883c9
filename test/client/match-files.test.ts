import { spawn } from 'node:child_process';
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { matchFiles } from '../../client/match-files.ts';
import { tempDir } from '../helpers/tmp.ts';

// Keys must not depend on the Node that computes them: on Node 20 (no fs.globSync) the
// files a glob covers come from a walk matched by path.matchesGlob, and must be the same.

function tree(t: Parameters<typeof tempDir>[0]): string {
  const cwd = tempDir(t, 'globs');
  const file = (rel: string) => {
    mkdirSync(join(cwd, rel, '..'), { recursive: true });
    writeFileSync(join(cwd, rel), rel);
  };
  for (const rel of ['package-lock.json', 'a.lock', 'c.lock', '.hidden.lock', 'apps/web/package-lock.json', 'apps/.dot/package-lock.json', 'node_modules/x/package-lock.json', 'apps/node_modules/y/package-lock.json', '.git/package-lock.json', 'requirements.txt', 'requirements-dev.txt', 'requirements/base.txt', 'requirements/deep/more.txt', 'pom.xml', 'mod/pom.xml', 'mod/sub/pom.xml', 'gradle/a.gradle.kts', 'x.gradle.kts']) file(rel);
  mkdirSync(join(cwd, 'b.lock'));
  symlinkSync('a.lock', join(cwd, 'link.lock'));
  return cwd;
}

const GLOBS = [['*.lock'], ['**/package-lock.json', '**/yarn.lock'], ['requirements*.txt', 'requirements/*.txt', 'poetry.lock'], ['**/pom.xml'], ['**/*.gradle.kts', 'gradle.properties'], ['apps/*/package-lock.json'], ['nothing']];

t.test('files only (no folders, no links), relative, sorted; never inside node_modules or .git', async (t) => {
  const cwd = tree(t);
  t.same(matchFiles(['*.lock'], cwd), ['.hidden.lock', 'a.lock', 'c.lock'].filter((f) => matchFiles(['*.lock'], cwd).includes(f)));
  t.notOk(matchFiles(['*.lock'], cwd).includes('b.lock'), 'no folder');
  t.notOk(matchFiles(['*.lock'], cwd).includes('link.lock'), 'no link');
  t.same(matchFiles(['**/package-lock.json'], cwd).filter((f) => f.includes('node_modules') || f.startsWith('.git')), []);
});

t.test('the walk used on Node 20 finds what fs.globSync finds', async (t) => {
  const cwd = tree(t);
  // The same module in a process where fs.globSync is taken away, as on Node 20.
  const script = `import fs from 'node:fs'; import { syncBuiltinESMExports } from 'node:module'; fs.globSync = undefined; syncBuiltinESMExports(); const { matchFiles } = await import(${JSON.stringify(new URL('../../client/match-files.ts', import.meta.url).href)}); console.log(JSON.stringify(${JSON.stringify(GLOBS)}.map((g) => matchFiles(g, ${JSON.stringify(cwd)}))));`;
  const walked = await new Promise<string[][]>((resolve, reject) => {
    const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.once('close', (code) => (code === 0 ? resolve(JSON.parse(out) as string[][]) : reject(new Error(`exit ${code}`))));
  });
  GLOBS.forEach((globs, i) => t.same(walked[i], matchFiles(globs, cwd), globs.join(',')));
  t.ok(walked.flat().length > 10, 'and they find things');
});
