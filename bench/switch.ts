import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus } from './corpora.ts';
import { clientPackage, log } from './larder.ts';
import { inTurn, npmCi, quiet, type Row, sh, timed } from './measure.ts';
import { startServer } from './server.ts';

// A developer switching between two branches whose lockfiles differ: the two trees of
// the delta scenario (npm-large and npm-large-variant, two independent npm ci runs), back
// and forth in one project folder, with the local part cache on (one cache folder: one
// machine), by the client as users install it (the package). Each switch is measured
// against extracting that tree with zstd and tar into a fresh folder, against a cold
// restore (a fresh folder, local cache off, every part from the server) and, on the first
// two switches, against `npm ci`; and a restore of the tree already in place ("already
// up to date") against its 0.3 s goal.

export async function switchRows(a: Corpus, b: Corpus, work: string, runs: number): Promise<Row[]> {
  const server = await startServer(join(work, 'store-switch'));
  const cacheDir = join(work, 'switch-cache');
  const client = await clientPackage();
  const env = { LARDER_SERVER: server.url, LARDER_NAMESPACE: 'switch', LARDER_CACHE_DIR: cacheDir, LARDER_LOCAL_CACHE: '1' };
  const larder = (args: string[], cwd: string, local = true) =>
    timed(process.execPath, [client, ...args, '--strict'], { cwd, env: local ? env : { ...env, LARDER_CACHE_DIR: join(work, `switch-cold-cache-${Date.now()}`), LARDER_LOCAL_CACHE: '0' } });
  try {
    log('switch: saving both trees (their parts stay in the local cache)');
    const trees = { a, b };
    for (const [name, corpus] of Object.entries(trees)) {
      await larder(['save', '--key', `switch-${name}`, '--path', corpus.path], corpus.project);
      await sh(`tar -cf - ${corpus.path} | zstd -T0 -3 -q -f -o ${join(work, `switch-${name}.tar.zst`)}`, corpus.project);
    }
    const project = join(work, 'switch-project');
    mkdirSync(project);
    await larder(['restore', '--key', 'switch-a', '--path', a.path], project);
    const switches: number[] = [];
    const native: number[] = [];
    const cold: number[] = [];
    const npmCiRuns: number[] = [];
    const upToDate: number[] = [];
    let holds: keyof typeof trees = 'a';
    for (let i = 0; i < runs * 2; i++) {
      const next: keyof typeof trees = holds === 'a' ? 'b' : 'a';
      const archive = join(work, `switch-${next}.tar.zst`);
      const fresh = (label: string) => {
        const dir = join(work, `switch-${label}-${i}`);
        mkdirSync(dir);
        return dir;
      };
      await inTurn(
        i,
        async () => switches.push((await quiet(() => larder(['restore', '--key', `switch-${next}`, '--path', a.path], project))).seconds),
        async () => native.push((await quiet(() => sh(`zstd -dc ${archive} | tar -xf -`, fresh('native')), [archive])).seconds),
      );
      cold.push((await quiet(() => larder(['restore', '--key', `switch-${next}`, '--path', a.path], fresh('cold'), false))).seconds);
      if (i < 2) {
        npmCiRuns.push((await npmCi(trees[next].project, fresh('npm'))).seconds);
      }
      holds = next;
      upToDate.push((await quiet(() => larder(['restore', '--key', `switch-${holds}`, '--path', a.path], project))).seconds);
    }
    const corpus = `${a.name} ⇄ ${b.name}`;
    const notes = 'the package; the folder held the other tree, untouched';
    return [
      { scenario: 'switch branches: restore the other tree from the local cache', corpus, larder: switches, baselineName: 'zstd -dc | tar -x, fresh folder', baseline: native, goal: { kind: 'larder/baseline ≤', value: 1 }, notes },
      { scenario: 'switch branches, against a cold restore', corpus, larder: switches, baselineName: 'larder restore, fresh folder, no local cache', baseline: cold, notes },
      { scenario: 'switch branches, against npm ci', corpus, larder: switches, baselineName: 'npm ci --prefer-offline (warm npm cache)', baseline: npmCiRuns, notes },
      { scenario: 'restore of the tree already in place', corpus, larder: upToDate, baselineName: 'the goal (s)', baseline: [0.3], goal: { kind: 'larder/baseline ≤', value: 1 }, notes: 'the package' },
    ];
  } finally {
    await server.stop();
  }
}
