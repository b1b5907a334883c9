import { createHash } from 'node:crypto';
import { cpSync, mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Corpus } from './corpora.ts';
import { larder, log } from './larder.ts';
import { inTurn, quiet, type Row, sh } from './measure.ts';
import { startServer } from './server.ts';

// Saves after a lockfile change, as CI meets them. Every run starts a cold server and
// saves npm-large (a full save), then, in alternating order:
// - the variant lockfile (one package changed, one added), installed by its own
//   npm ci in another folder at another time: what every lockfile change in CI is;
// - the same lockfile installed afresh by a second npm ci: every part is stored;
// and last, the old tree restored by restore key into the variant and brought up to
// date by npm install (which keeps the untouched files and their times).

interface SaveRecord {
  parts: number;
  partsReused: number;
  partsRecognised: number;
  transferredBytes: number;
}

export async function deltaSaves(large: Corpus, variant: Corpus, afresh: Corpus, work: string, runs: number): Promise<{ rows: Row[]; detail: Record<string, unknown> }> {
  const fresh = newContent(join(large.project, large.path), join(variant.project, variant.path));
  log(`delta saves: the variant holds ${(fresh.newBytes / 1e6).toFixed(1)} MB of new file content (${pct(fresh.newBytes / fresh.totalBytes)} of ${(fresh.totalBytes / 1e6).toFixed(0)} MB)`);
  const full = { seconds: [] as number[], uploaded: [] as number[] };
  const changed = { seconds: [] as number[], uploaded: [] as number[], record: undefined as SaveRecord | undefined };
  const again = { seconds: [] as number[], record: undefined as SaveRecord | undefined };
  const installed = { seconds: [] as number[], record: undefined as SaveRecord | undefined };
  const save = async (corpus: Corpus, key: string, server: Awaited<ReturnType<typeof startServer>>, cwd = corpus.project) => {
    const result = await quiet(() => larder(['save', '--key', key, '--restore-key', 'lock1-', '--path', 'node_modules', '--json'], cwd, server), [join(cwd, 'node_modules')]);
    return { seconds: result.seconds, record: JSON.parse(result.stdout) as SaveRecord };
  };
  for (let i = 0; i < runs; i++) {
    const server = await startServer(join(work, `store-delta-${i}`));
    const base = await save(large, 'lock1-npm', server);
    full.seconds.push(base.seconds);
    full.uploaded.push(base.record.transferredBytes / 1e6);
    await inTurn(
      i,
      async () => {
        const { seconds, record } = await save(variant, 'lock2-npm', server);
        changed.seconds.push(seconds);
        changed.uploaded.push(record.transferredBytes / 1e6);
        changed.record = record;
      },
      async () => {
        const { seconds, record } = await save(afresh, 'lock1again-npm', server);
        again.seconds.push(seconds);
        again.record = record;
      },
    );
    const dir = join(work, `delta-install-${i}`);
    mkdirSync(dir);
    for (const file of ['package.json', 'package-lock.json']) cpSync(join(variant.project, file), join(dir, file));
    await larder(['restore', '--key', 'lock2install-npm', '--restore-key', 'lock1-', '--path', 'node_modules'], dir, server);
    await sh('npm install --ignore-scripts --prefer-offline --no-audit --no-fund --loglevel=error', dir);
    const { seconds, record } = await save(variant, 'lock2install-npm', server, dir);
    installed.seconds.push(seconds);
    installed.record = record;
    await server.stop();
  }
  const parts = (r: SaveRecord | undefined) => `${r?.partsReused} of ${r?.parts} parts stored already (${r?.partsRecognised} recognised without compressing)`;
  const rows: Row[] = [
    {
      scenario: 'upload after a lockfile change, two fresh npm ci installs',
      corpus: 'npm-large-variant',
      larder: changed.uploaded,
      baselineName: 'a full save (MB)',
      baseline: full.uploaded,
      goal: { kind: 'larder/baseline ≤', value: 0.1 },
      notes: `MB; ${parts(changed.record)}; new file content: ${(fresh.newBytes / 1e6).toFixed(1)} MB, ${pct(fresh.newBytes / fresh.totalBytes)} of the tree`,
    },
    { scenario: 'save after a lockfile change, two fresh npm ci installs', corpus: 'npm-large-variant', larder: changed.seconds, baselineName: 'full save, cold server', baseline: full.seconds, notes: parts(changed.record) },
    { scenario: 'save of the same lockfile installed afresh', corpus: 'npm-large-afresh', larder: again.seconds, baselineName: 'full save, cold server', baseline: full.seconds, goal: { kind: 'larder/baseline ≤', value: 0.5 }, notes: parts(again.record) },
    { scenario: 'save after a restore-key hit and npm install', corpus: 'npm-large-variant', larder: installed.seconds, baselineName: 'full save, cold server', baseline: full.seconds, notes: `${parts(installed.record)}, ${((installed.record?.transferredBytes ?? 0) / 1e6).toFixed(1)} MB uploaded` },
  ];
  return { rows, detail: { newContent: fresh, changed: changed.record, afresh: again.record, afterInstall: installed.record } };
}

/** Bytes of the variant's files that the original tree does not hold, by path and content. */
function newContent(original: string, variant: string): { newBytes: number; totalBytes: number } {
  const known = new Map<string, string>();
  for (const [rel, digest] of files(original)) known.set(rel, digest);
  let newBytes = 0;
  let totalBytes = 0;
  for (const [rel, digest, size] of files(variant)) {
    totalBytes += size;
    if (known.get(rel) !== digest) newBytes += size;
  }
  return { newBytes, totalBytes };
}

function* files(root: string, rel = ''): Generator<[string, string, number]> {
  for (const entry of readdirSync(join(root, rel), { withFileTypes: true })) {
    const path = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isDirectory()) yield* files(root, path);
    else if (entry.isFile()) {
      const content = readFileSync(join(root, path));
      yield [path, createHash('sha256').update(content).digest('hex'), content.length];
    }
  }
}

function pct(ratio: number): string {
  return `${(ratio * 100).toFixed(1)} %`;
}
