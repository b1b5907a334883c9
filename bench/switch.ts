import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus } from './corpora.ts';
import { LARDER, log } from './larder.ts';
import { inTurn, quiet, type Row, sh, timed } from './measure.ts';
import { startServer } from './server.ts';

// A developer switching between two branches whose lockfiles differ: the two trees of
// the delta scenario (npm-large and npm-large-variant), back and forth in one project
// folder, with the local part cache on (one cache folder: one machine). Each switch is
// measured against extracting that tree with zstd and tar into a fresh folder; and a
// restore of the tree already in place ("already up to date") against its 0.3 s goal.

export async function switchRows(a: Corpus, b: Corpus, work: string, runs: number): Promise<Row[]> {
  const server = await startServer(join(work, 'store-switch'));
  const cacheDir = join(work, 'switch-cache');
  const env = { LARDER_SERVER: server.url, LARDER_NAMESPACE: 'switch', LARDER_CACHE_DIR: cacheDir, LARDER_LOCAL_CACHE: '1' };
  const larder = (args: string[], cwd: string) => timed(process.execPath, [LARDER, ...args, '--strict'], { cwd, env });
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
    const upToDate: number[] = [];
    let holds = 'a';
    for (let i = 0; i < runs * 2; i++) {
      const next = holds === 'a' ? 'b' : 'a';
      const fresh = join(work, `switch-native-${i}`);
      mkdirSync(fresh);
      await inTurn(
        i,
        async () => switches.push((await quiet(() => larder(['restore', '--key', `switch-${next}`, '--path', a.path], project))).seconds),
        async () => native.push((await quiet(() => sh(`zstd -dc ${join(work, `switch-${next}.tar.zst`)} | tar -xf -`, fresh), [join(work, `switch-${next}.tar.zst`)])).seconds),
      );
      holds = next;
      upToDate.push((await quiet(() => larder(['restore', '--key', `switch-${holds}`, '--path', a.path], project))).seconds);
    }
    return [
      { scenario: 'switch branches: restore the other tree from the local cache', corpus: `${a.name} ⇄ ${b.name}`, larder: switches, baselineName: 'zstd -dc | tar -x, fresh folder', baseline: native, goal: { kind: 'larder/baseline ≤', value: 1 }, notes: 'larder also removes the tree it replaces' },
      { scenario: 'restore of the tree already in place', corpus: `${a.name} ⇄ ${b.name}`, larder: upToDate, baselineName: 'the goal (s)', baseline: [0.3], goal: { kind: 'larder/baseline ≤', value: 1 } },
    ];
  } finally {
    await server.stop();
  }
}
