import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t, { type Test } from 'tap';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildSampleTree, snapshotTree } from '../helpers/trees.ts';

// What a save publishes: parts that depend on what the tree holds, never on when it was
// written, so two fresh installs of one lockfile share every part.

const KEY = ['--restore-key', 'deps-', '--path', 'deps'];

/** Every file, folder and link of the tree gets this time, as a fresh install would. */
function touchAll(root: string, seconds: number): void {
  for (const entry of snapshotTree(root)) {
    if (entry.type !== 'symlink') utimesSync(join(root, entry.rel), seconds, seconds);
  }
}

t.test('the same tree written at another time shares every part, and each restore keeps its own times', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const first = tempDir(t, 'install-a');
  buildSampleTree(join(first, 'deps'));
  touchAll(join(first, 'deps'), 1_700_000_000);
  const a = await runLarder(['save', '--key', 'deps-a', ...KEY, '--json'], { cwd: first, env });
  t.equal(a.code, 0, a.stderr);
  const saveA = JSON.parse(a.stdout);
  t.match(saveA, { outcome: 'saved', partsReused: 0 });

  // A second install of the same content: same files, every time different.
  const second = tempDir(t, 'install-b');
  execFileSync('cp', ['-a', join(first, 'deps'), join(second, 'deps')]); // hard links kept
  touchAll(join(second, 'deps'), 1_800_000_123);
  const b = await runLarder(['save', '--key', 'deps-b', ...KEY, '--json'], { cwd: second, env });
  t.equal(b.code, 0, b.stderr);
  const saveB = JSON.parse(b.stdout);
  t.match(saveB, { outcome: 'saved', parts: saveA.parts, partsReused: saveA.parts, transferredBytes: 0 }, 'nothing uploaded: the parts do not hold times');

  for (const [key, source] of [['deps-a', first], ['deps-b', second]] as const) {
    const target = tempDir(t, `restore-${key}`);
    writeFileSync(join(target, 'marker'), '');
    const restored = await runLarder(['restore', '--key', key, '--path', 'deps', '--json'], { cwd: target, env });
    t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' });
    t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(source, 'deps')), `${key}: content, modes, links and its own times`);
  }
});

const LOCKED = ['--key', 'deps-{hash:deps.lock}', '--restore-key', 'deps-', '--path', 'deps'];

/** A project whose deps were restored by a restore-key hit from the entry of lockfile v1. */
async function afterRestoreKeyHit(t: Test, env: NodeJS.ProcessEnv): Promise<string> {
  const first = tempDir(t, 'lock-v1');
  writeFileSync(join(first, 'deps.lock'), 'v1');
  buildSampleTree(join(first, 'deps'));
  const saved = await runLarder(['save', ...LOCKED, '--json'], { cwd: first, env });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' });
  const second = tempDir(t, 'lock-v2');
  writeFileSync(join(second, 'deps.lock'), 'v2');
  const restored = await runLarder(['restore', ...LOCKED, '--json'], { cwd: second, env });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'prefix' });
  return second;
}

t.test('a save refuses to publish, under a new key, the tree a restore-key hit wrote when nothing changed since', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const project = await afterRestoreKeyHit(t, env);
  const refused = await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env });
  t.equal(refused.code, 0, 'a cache that refuses never fails the build');
  t.match(JSON.parse(refused.stdout), { outcome: 'skipped', transferredBytes: 0, error: { code: 'LARDER_UNCHANGED_TREE' } });
  t.match(refused.stderr, /deps is what restore wrote from deps-\w+ \(a restore-key hit\) and nothing in it changed since, so the install step did not run/);
  const strict = await runLarder(['save', ...LOCKED, '--strict'], { cwd: project, env });
  t.equal(strict.code, 1, '--strict makes it an error');
  const listed = (await (await fetch(`${url}/v1/ns/default/entries`)).json()) as { entries: unknown[] };
  t.equal(listed.entries.length, 1, 'nothing was published under the new key');
});

const smallBuilds: Array<[string, (deps: string) => void]> = [
  ['rewrites one byte of one file in place', (deps) => writeFileSync(join(deps, 'lib/index.js'), 'module.exports = 43;\n')],
  ['changes one mode', (deps) => chmodSync(join(deps, 'bin/tool'), 0o700)],
  ['deletes one file', (deps) => rmSync(join(deps, 'lib/empty.txt'))],
  ['adds one empty folder deep inside', (deps) => mkdirSync(join(deps, 'empty-dir/inner-empty/new'))],
  ['deletes the folder and installs the same files afresh', (deps) => {
    const aside = `${deps}-aside`;
    execFileSync('cp', ['-a', deps, aside]);
    rmSync(deps, { recursive: true, force: true });
    execFileSync('mv', [aside, deps]);
  }],
];
for (const [what, build] of smallBuilds) {
  t.test(`a build that ${what} after a restore-key hit is saved`, async (t) => {
    const { url } = await startServer(t);
    const env = { LARDER_SERVER: url };
    const project = await afterRestoreKeyHit(t, env);
    await new Promise((resolve) => setTimeout(resolve, 20)); // past the file system clock's tick
    build(join(project, 'deps'));
    const saved = await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env });
    t.match(JSON.parse(saved.stdout), { outcome: 'saved' }, saved.stderr);
  });
}

t.test('a folder saved under one key and untouched since is not saved again under another', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const project = tempDir(t, 'resave');
  writeFileSync(join(project, 'deps.lock'), 'v1');
  buildSampleTree(join(project, 'deps'));
  t.match(JSON.parse((await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env })).stdout), { outcome: 'saved' });
  writeFileSync(join(project, 'deps.lock'), 'v2'); // the lockfile changed; the install did not run
  const refused = await runLarder(['save', ...LOCKED, '--json'], { cwd: project, env });
  t.match(JSON.parse(refused.stdout), { outcome: 'skipped', error: { code: 'LARDER_UNCHANGED_TREE' } });
  t.match(refused.stderr, /deps was saved as deps-\w+ and nothing in it changed since/);
});
