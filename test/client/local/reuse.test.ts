import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { lstatSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { digestHex } from '../../../shared/wire/digest.ts';
import type { Manifest } from '../../../shared/wire/manifest.ts';
import { LARDER_BIN, runLarder } from '../../helpers/cli.ts';
import { startServer } from '../../helpers/server.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { snapshotTree } from '../../helpers/trees.ts';

// Switching branches: two node_modules from two real `npm ci` runs whose lockfiles differ
// (semver bumped, uuid added), restored in turn into one project folder with the local
// cache on. The folder already holds the other branch's tree, so only the parts that
// differ are written; the result must be exactly the other tree all the same.

const BRANCHES = {
  main: { 'date-fns': '2.30.0', lodash: '4.17.21', rxjs: '7.8.1', semver: '7.6.3', typescript: '5.4.5' },
  feature: { 'date-fns': '2.30.0', lodash: '4.17.21', rxjs: '7.8.1', semver: '7.7.1', typescript: '5.4.5', uuid: '9.0.1' },
};

function npm(args: string[], cwd: string): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('npm', args, { cwd, env: { ...process.env, npm_config_audit: 'false', npm_config_fund: 'false', npm_config_update_notifier: 'false' } });
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d));
    child.stderr.on('data', (d: Buffer) => (output += d));
    child.once('close', (code) => resolve({ code, output }));
  });
}

interface Restored {
  outcome: string;
  partsInPlace?: number;
  parts: number;
  transferredBytes: number;
}

t.test('switching branches patches the folder in place: only the parts that differ are written, the tree is exactly the other branch', async (t) => {
  const { url, corruptBlobs } = await startServer(t);
  const root = tempDir(t, 'switch');
  const env = { LARDER_SERVER: url, LARDER_CACHE_DIR: join(root, 'cache'), LARDER_LOCAL_CACHE: '1' };
  const larder = async (args: string[], cwd: string) => {
    const res = await runLarder([...args, '--json', '--strict'], { cwd, env });
    t.equal(res.code, 0, res.stderr);
    return JSON.parse(res.stdout) as Restored;
  };
  const trees: Record<string, ReturnType<typeof snapshotTree>> = {};
  for (const [branch, dependencies] of Object.entries(BRANCHES)) {
    const checkout = tempDir(t, `switch-${branch}`);
    writeFileSync(join(checkout, 'package.json'), JSON.stringify({ name: `switch-${branch}`, private: true, dependencies }));
    for (const step of [['install', '--package-lock-only', '--ignore-scripts'], ['ci', '--ignore-scripts', '--prefer-offline']]) {
      const res = await npm(step, checkout);
      t.equal(res.code, 0, res.output);
    }
    trees[branch] = snapshotTree(join(checkout, 'node_modules'));
    t.match(await larder(['save', '--key', `deps-${branch}`, '--path', 'node_modules'], checkout), { outcome: 'saved' });
  }

  const project = tempDir(t, 'switch-project');
  const folder = join(project, 'node_modules');
  const first = await larder(['restore', '--key', 'deps-main', '--path', 'node_modules'], project);
  t.notOk(first.partsInPlace, 'an empty folder is restored whole');
  t.same(snapshotTree(folder), trees.main);
  const lodash = lstatSync(join(folder, 'lodash', 'lodash.js')).ino;

  for (const branch of ['feature', 'main', 'feature']) {
    const res = await larder(['restore', '--key', `deps-${branch}`, '--path', 'node_modules'], project);
    t.equal(res.outcome, 'hit');
    t.ok((res.partsInPlace ?? 0) > 0 && (res.partsInPlace ?? 0) < res.parts, `to ${branch}: ${res.partsInPlace} of ${res.parts} parts already in place`);
    t.equal(res.transferredBytes, 0, 'every part came from the local cache');
    t.same(snapshotTree(folder), trees[branch], `the folder is exactly ${branch}'s tree`);
    t.equal(lstatSync(join(folder, 'lodash', 'lodash.js')).ino, lodash, 'a file both branches share was not rewritten');
  }
  const again = await larder(['restore', '--key', 'deps-feature', '--path', 'node_modules'], project);
  t.match(again, { outcome: 'hit', transferredBytes: 0 }, 'and the patched folder is up to date after');
  t.equal((again as { upToDate?: number }).upToDate, 1);

  // A switch killed at any point: the next restore makes the tree asked for, exactly.
  for (const delay of [250, 500, 800]) {
    const child = spawn(process.execPath, [LARDER_BIN, 'restore', '--key', 'deps-main', '--path', 'node_modules', '--strict'], { cwd: project, env: { PATH: process.env.PATH, HOME: project, ...env }, stdio: 'ignore' });
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.kill('SIGKILL');
    await once(child, 'close');
    await larder(['restore', '--key', 'deps-main', '--path', 'node_modules'], project);
    t.same(snapshotTree(folder), trees.main, `killed after ${delay} ms, then restored: exactly main's tree`);
    await larder(['restore', '--key', 'deps-feature', '--path', 'node_modules'], project);
    t.same(snapshotTree(folder), trees.feature);
  }

  // A switch that fails half way leaves the folder as it was, times and all: the parts
  // only main has are not here and arrive corrupt, after the kept members were retimed.
  const parts = async (key: string) => ((await (await request(`${url}/v1/ns/default/entries/${key}`)).body.json()) as Manifest).paths.flatMap((p) => p.parts.map((part) => part.digest));
  const featureParts = new Set(await parts('deps-feature'));
  for (const digest of await parts('deps-main')) if (!featureParts.has(digest)) rmSync(join(root, 'cache', 'parts', digestHex(digest).slice(0, 2), digestHex(digest)));
  await corruptBlobs();
  const failed = await runLarder(['restore', '--key', 'deps-main', '--path', 'node_modules', '--strict'], { cwd: project, env });
  t.equal(failed.code, 1);
  t.match(failed.stderr, /LARDER_INTEGRITY/);
  t.same(snapshotTree(folder), trees.feature, 'the folder is still exactly feature\'s tree');
  t.same(readdirSync(project), ['node_modules'], 'nothing left beside it');
});
