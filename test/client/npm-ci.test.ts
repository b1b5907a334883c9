import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { snapshotTree } from '../helpers/trees.ts';

// The acceptance check: a node_modules from a real `npm ci`, saved from one
// folder, restored byte-identical (content, modes, links, times) into another.

const PACKAGE = {
  name: 'larder-npm-ci-fixture',
  private: true,
  // pinned; semver and uuid bring bin links in node_modules/.bin
  dependencies: { semver: '7.6.3', ms: '2.1.3', 'is-number': '7.0.0', uuid: '9.0.1', debug: '4.3.7' },
};

function run(command: string, args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn(command, args, { cwd, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('close', (code) => resolve({ code, output }));
  });
}

t.test('a real npm ci tree round-trips byte-identical', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url, LARDER_NAMESPACE: 'npm-ci' };
  const first = tempDir(t, 'npm-ci-a');
  writeFileSync(join(first, 'package.json'), JSON.stringify(PACKAGE, null, 2));
  const lock = await run('npm', ['install', '--package-lock-only', '--ignore-scripts'], first);
  t.equal(lock.code, 0, lock.output);
  const ci = await run('npm', ['ci', '--ignore-scripts', '--prefer-offline'], first);
  t.equal(ci.code, 0, ci.output);
  const original = snapshotTree(join(first, 'node_modules'));
  t.ok(original.some((e) => e.rel === '.bin/semver' && e.type === 'symlink'), 'the tree has bin links');

  const saved = await runLarder(['save', '--preset', 'npm', '--json'], { cwd: first, env });
  t.equal(saved.code, 0, saved.stderr);
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' });

  const second = tempDir(t, 'npm-ci-b');
  mkdirSync(second, { recursive: true });
  writeFileSync(join(second, 'package.json'), JSON.stringify(PACKAGE, null, 2));
  await run('cp', [join(first, 'package-lock.json'), second], first);
  const restored = await runLarder(['restore', '--preset', 'npm', '--json'], { cwd: second, env });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' });
  t.same(snapshotTree(join(second, 'node_modules')), original, 'byte-identical: content, modes, links, times');
  const works = await run(join(second, 'node_modules/.bin/semver'), ['1.2.3', '-r', '^1.0.0'], second);
  t.equal(works.output.trim(), '1.2.3', 'the restored bin link runs');
});
