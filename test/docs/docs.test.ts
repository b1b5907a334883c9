import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { runProcess } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';

// The README and docs/ as a reader meets them: every link leads somewhere, every flag
// the commands accept is documented, and the command blocks run as written.

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const PAGES = ['README.md', ...readdirSync(join(REPO, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];
const read = (page: string) => readFileSync(join(REPO, page), 'utf8');
/** GitHub's anchor for a heading. */
const slug = (heading: string) => heading.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-');

t.test('every relative link and anchor resolves', async (t) => {
  for (const page of PAGES) {
    for (const [, target = ''] of read(page).matchAll(/\]\(([^)\s]+)\)/g)) {
      if (/^https?:/.test(target)) continue;
      const [file = '', anchor] = target.split('#');
      const path = file === '' ? join(REPO, page) : resolve(dirname(join(REPO, page)), file);
      t.ok(existsSync(path), `${page}: ${target} exists`);
      if (anchor && path.endsWith('.md')) {
        const anchors = [...readFileSync(path, 'utf8').matchAll(/^#+ (.+)$/gm)].map((m) => slug(m[1] as string));
        t.ok(anchors.includes(anchor), `${page}: #${anchor} is a heading of ${file || page}`);
      }
    }
  }
});

t.test('every flag of larder and larder-server is documented', async (t) => {
  const flags = (bin: string) => [...new Set(execFileSync(process.execPath, [join(REPO, 'bin', bin), '--help'], { encoding: 'utf8' }).match(/^ {2}--[a-z0-9-]+/gm)?.map((f) => f.trim()))];
  for (const flag of flags('larder.js')) t.match(read('docs/client.md'), `\`${flag}`, `docs/client.md: ${flag}`);
  for (const flag of flags('larder-server.js')) t.match(read('docs/server.md'), `\`${flag}`, `docs/server.md: ${flag}`);
});

const sh = (line: string, cwd: string, env: NodeJS.ProcessEnv) => runProcess('bash', ['-c', line], { cwd, env });

/** A ```sh block's commands, continuation lines joined. */
function shellLines(page: string, index = 0): string[] {
  const block = [...read(page).matchAll(/```sh\n([\s\S]*?)```/g)][index]?.[1] ?? '';
  return block.replace(/\\\n\s*/g, ' ').split('\n').map((l) => l.trim()).filter(Boolean);
}

t.test("docs/client.md's examples run against a server", async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'docs-client');
  mkdirSync(join(project, 'bin'));
  // `larder` on PATH is this checkout's
  writeFileSync(join(project, 'bin', 'larder'), `#!/bin/sh\nexec "${process.execPath}" "${join(REPO, 'bin', 'larder.js')}" "$@"\n`, { mode: 0o755 });
  writeFileSync(join(project, 'package.json'), '{"name":"docs","private":true}');
  writeFileSync(join(project, 'package-lock.json'), '{"name":"docs","lockfileVersion":3,"requires":true,"packages":{"":{"name":"docs"}}}');
  writeFileSync(join(project, 'requirements.txt'), 'numpy==2.0.0\n');
  mkdirSync(join(project, 'node_modules', 'dep'), { recursive: true });
  writeFileSync(join(project, 'node_modules', 'dep', 'index.js'), 'module.exports = 1;');
  mkdirSync(join(project, '.gradle', 'caches'), { recursive: true });
  const env = { PATH: `${join(project, 'bin')}:${dirname(process.execPath)}:${process.env.PATH}`, HOME: project, LARDER_SERVER: url, npm_config_cache: join(project, '.npm'), npm_config_update_notifier: 'false' };
  const lines = shellLines('docs/client.md');
  t.ok(lines.length >= 6, 'the block has its examples');
  for (const line of lines) {
    if (line.includes('…')) continue; // a key shortened for the page
    const { code, out } = await sh(line, project, env);
    t.equal(code, 0, `${line}\n${out}`);
    t.notMatch(out, /LARDER_(?!UNCHANGED_TREE)[A-Z_]+:/, `${line}: no error`);
  }
});

t.test("docs/server.md's command starts a server (its paths and port made this test's)", async (t) => {
  const [line = ''] = shellLines('docs/server.md');
  t.match(line, /^npm start -- /);
  const store = tempDir(t, 'docs-server');
  const command = line.replace('--port 7373', '--port 0').replace('--host 0.0.0.0', '--host 127.0.0.1').replace('/srv/larder', store).replace('/etc/larder/tokens.json', join(REPO, 'docs', 'tokens.example.json'));
  const child = spawn('bash', ['-c', `exec ${command}`], { cwd: REPO, stdio: ['ignore', 'ignore', 'pipe'] });
  t.teardown(() => void child.kill('SIGTERM'));
  let stderr = '';
  const started = await new Promise<string>((done, fail) => {
    const timer = setTimeout(() => fail(new Error(stderr)), 20_000);
    child.stderr.on('data', (d: Buffer) => {
      stderr += d;
      const found = /listening on (\S+)/.exec(stderr)?.[1];
      if (found) {
        clearTimeout(timer);
        done(found);
      }
    });
  });
  t.equal((await fetch(`${started}/readyz`)).status, 200);
  t.equal((await fetch(`${started}/v1/stats`)).status, 401, 'with the example tokens file: tokens needed');
});
