import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { pseudoRandom } from '../../bench/corpora.ts';
import { LARDER_BIN, runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { snapshotTree } from '../helpers/trees.ts';

// A restore killed mid-way leaves its staging folder; the next restore of the same target
// sweeps it and succeeds. A replaced tree that cannot be removed costs a warning only.

async function savedProject(t: Test, url: string): Promise<string> {
  const project = tempDir(t, 'source');
  for (let p = 0; p < 40; p++) {
    mkdirSync(join(project, 'deps', `pkg-${p}`), { recursive: true });
    for (let f = 0; f < 100; f++) writeFileSync(join(project, 'deps', `pkg-${p}`, `f${f}.js`), pseudoRandom(`${p}/${f}`, 6000).toString('base64'));
  }
  const saved = await runLarder(['save', '--key', 'k', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' });
  return project;
}

t.test('a restore killed mid-way: the next one sweeps what it left and restores whole', async (t) => {
  const { url } = await startServer(t);
  const project = await savedProject(t, url);
  const target = tempDir(t, 'target');
  mkdirSync(join(target, 'deps'));
  writeFileSync(join(target, 'deps', 'old.js'), 'the previous tree');

  const child = spawn(process.execPath, [LARDER_BIN, 'restore', '--key', 'k', '--path', 'deps'], { cwd: target, env: { PATH: process.env.PATH, HOME: target, LARDER_SERVER: url, LARDER_LOCAL_CACHE: '0' }, stdio: 'ignore' });
  const leftovers = () => readdirSync(target).filter((n) => n.includes('.larder-'));
  for (let i = 0; i < 2000 && leftovers().length === 0; i++) await new Promise((r) => setTimeout(r, 2));
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));
  t.ok(leftovers().length > 0, `killed with its staging folder in place: ${leftovers().join(', ')}`);
  t.ok(existsSync(join(target, 'deps')), 'the target is there (old or new)');

  const again = await runLarder(['restore', '--key', 'k', '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(again.stdout), { outcome: 'hit', match: 'exact' }, again.stderr);
  t.same(leftovers(), [], 'nothing left beside the target');
  t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(project, 'deps')));
});

t.test('a replaced tree that cannot be removed: still an exact hit, with one warning', async (t) => {
  const { url } = await startServer(t);
  await savedProject(t, url);
  const target = tempDir(t, 'target');
  mkdirSync(join(target, 'deps'));
  const stuck = join(target, 'deps', 'immutable');
  writeFileSync(stuck, '');
  execFileSync('chattr', ['+i', stuck]);
  t.teardown(() => {
    for (const name of readdirSync(target).filter((n) => n.endsWith('-old'))) execFileSync('chattr', ['-i', join(target, name, 'immutable')]);
  });
  const githubOutput = join(target, 'out');
  const restored = await runLarder(['restore', '--key', 'k', '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url, GITHUB_OUTPUT: githubOutput } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' });
  t.match(restored.stderr, /the folder it replaced could not be removed \(EPERM\); remove .*-old by hand/);
  t.match(execFileSync('cat', [githubOutput]).toString(), /cache-hit=true/);
});
