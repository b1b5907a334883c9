import { cpSync, existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildExecutable } from '../client/package/sea.ts';
import { nodeOfMajor } from '../test/helpers/external/node-versions.ts';
import { clientPackage, LARDER, log } from './larder.ts';
import { inTurn, quiet, type Row, sh, timed } from './measure.ts';
import { startServer } from './server.ts';

// Start-up, where a small tree shows it: the client as users install it (the package on
// the pinned Node, and the single executable) against `node -e 0`, and a save and an
// exact-hit restore of a ~4,500-file node_modules against tar and zstd. The sources'
// client is measured beside them, since that is what the rest of the benchmark runs, and
// the package on Node 20, whose zstd is wasm (client/archive/zstd-portable.ts).

const SMALL_FILES = 4_500;

/** npm-large's smaller packages (under 300 files each), in name order, until they hold 4,500 files: a service's dependencies. */
function smallTree(cache: string, large: string): string {
  const project = join(cache, 'small-4500-packages');
  if (existsSync(join(project, '.complete'))) return project;
  rmSync(project, { recursive: true, force: true });
  mkdirSync(join(project, 'node_modules'), { recursive: true });
  let files = 0;
  const count = (dir: string): number => readdirSync(dir, { withFileTypes: true }).reduce((n, e) => n + (e.isDirectory() ? count(join(dir, e.name)) : 1), 0);
  for (const name of readdirSync(join(large, 'node_modules')).sort()) {
    if (files >= SMALL_FILES || name.startsWith('.') || name.startsWith('@')) continue;
    const from = join(large, 'node_modules', name);
    const own = count(from);
    if (own > 300) continue;
    cpSync(from, join(project, 'node_modules', name), { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    files += own;
  }
  writeFileSync(join(project, '.complete'), String(files));
  return project;
}

export async function startupRows(cache: string, largeProject: string, work: string, runs: number): Promise<Row[]> {
  const project = smallTree(cache, largeProject);
  const builds = join(work, 'client-builds');
  const pkg = await clientPackage();
  log('start-up: building the executable');
  const executable = await buildExecutable(builds);
  const clients: Record<string, string[]> = { package: [process.execPath, pkg], 'package on Node 20': [nodeOfMajor(20), pkg], executable: [executable], sources: [process.execPath, LARDER] };
  const rows: Row[] = [];

  // --version: the start-up alone. Ten rounds, alternating with the bare Node (the one it runs on).
  for (const [name, command] of Object.entries(clients)) {
    const node = command.length > 1 ? (command[0] as string) : process.execPath;
    const larder: number[] = [];
    const bare: number[] = [];
    for (let i = 0; i < Math.max(10, runs); i++) {
      await inTurn(
        i,
        async () => larder.push((await timed(command[0] as string, [...command.slice(1), '--version'], { cwd: project })).seconds),
        async () => bare.push((await timed(node, ['-e', '0'], { cwd: project })).seconds),
      );
    }
    rows.push({ scenario: `larder --version (${name})`, corpus: '-', larder, baselineName: 'node -e 0', baseline: bare, ...(name === 'sources' ? {} : { goal: { kind: 'larder/baseline ≤' as const, value: 2 } }) });
  }

  const server = await startServer(join(work, 'store-startup'));
  const archive = join(work, 'small.tar.zst');
  try {
    for (const [name, command] of Object.entries(clients)) {
      const slug = name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
      const run = async (args: string[], cwd: string, namespace: string) => {
        const cacheDir = mkdtempSync(join(tmpdir(), 'larder-bench-client-'));
        try {
          return await timed(command[0] as string, [...command.slice(1), ...args, '--strict'], { cwd, env: { LARDER_SERVER: server.url, LARDER_NAMESPACE: namespace, LARDER_CACHE_DIR: cacheDir, LARDER_LOCAL_CACHE: '0' } });
        } finally {
          rmSync(cacheDir, { recursive: true, force: true });
        }
      };
      const save: number[] = [];
      const nativeSave: number[] = [];
      const restore: number[] = [];
      const nativeRestore: number[] = [];
      for (let i = 0; i < runs; i++) {
        const namespace = `startup-${slug}-${i}`; // a namespace of its own: every part is uploaded
        const source = [join(project, 'node_modules')];
        await inTurn(
          i,
          async () => nativeSave.push((await quiet(() => sh(`tar -cf - node_modules | zstd -T0 -3 -q -f -o ${archive}`, project), source)).seconds),
          async () => save.push((await quiet(() => run(['save', '--key', 'small', '--path', 'node_modules'], project, namespace), source)).seconds),
        );
        const nativeDir = join(work, `startup-native-${slug}-${i}`);
        const larderDir = join(work, `startup-larder-${slug}-${i}`);
        mkdirSync(nativeDir);
        mkdirSync(larderDir);
        await inTurn(
          i,
          async () => nativeRestore.push((await quiet(() => sh(`zstd -dc ${archive} | tar -xf -`, nativeDir), [archive])).seconds),
          async () => restore.push((await quiet(() => run(['restore', '--key', 'small', '--path', 'node_modules'], larderDir, namespace))).seconds),
        );
      }
      const goal = name !== 'sources';
      rows.push({ scenario: `save (cold), ${name}`, corpus: 'small-4500', larder: save, baselineName: 'tar | zstd -T0 -3', baseline: nativeSave, ...(goal ? { goal: { kind: 'larder/baseline ≤' as const, value: 2 } } : {}) });
      rows.push({ scenario: `restore exact hit, ${name}`, corpus: 'small-4500', larder: restore, baselineName: 'zstd -dc | tar -x', baseline: nativeRestore, ...(goal ? { goal: { kind: 'larder/baseline ≤' as const, value: 1.5 } } : {}) });
    }
  } finally {
    await server.stop();
  }
  return rows;
}
