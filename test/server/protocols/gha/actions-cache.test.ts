import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { TokenTable } from '../../../../server/auth/access.ts';
import { runProcess } from '../../../helpers/cli.ts';
import { startServer } from '../../../helpers/server.ts';
import { tempDir } from '../../../helpers/tmp.ts';

// The acceptance check: the real @actions/cache 6.3.0 (what actions/cache and the setup-*
// actions run), driven as a workflow step would drive it, against a real larder server,
// over both versions of the protocol: a miss, a save, an exact restore, a restore-key
// restore, a version mismatch, and an archive over 128 MiB (Azure's block path in v2,
// many PATCHes in v1), every restored file compared by SHA-256.

const DRIVER = fileURLToPath(new URL('../../../helpers/external/actions-cache.ts', import.meta.url));
const TOKEN = 'gha-runner-token';
const BIG = 140 * 1024 * 1024;

function sha(file: string): string {
  return createHash('sha256').update(readFileSync(file)).digest('hex');
}

for (const version of ['v2', 'v1'] as const) {
  t.test(`@actions/cache 6.3.0 over protocol ${version}`, async (t) => {
    const { url, app } = await startServer(t, { tokens: new TokenTable({ tokens: [{ name: 'runners', sha256: TokenTable.hash(TOKEN), grants: [{ namespaces: 'ci-cache', access: 'read-write' }] }, { name: 'ops', sha256: TokenTable.hash('ops-token'), admin: true }] }) });
    const workspace = tempDir(t, `gha-${version}`);
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: workspace,
      RUNNER_TEMP: join(workspace, '.runner-temp'),
      GITHUB_WORKSPACE: workspace,
      ACTIONS_RUNTIME_TOKEN: TOKEN,
      ...(version === 'v2' ? { ACTIONS_CACHE_SERVICE_V2: 'true', ACTIONS_RESULTS_URL: `${url}/` } : { ACTIONS_CACHE_URL: `${url}/` }),
    };
    const step = async (...args: string[]): Promise<{ result?: unknown; error?: string; log: string }> => {
      const run = await runProcess(process.execPath, [DRIVER, ...args], { cwd: workspace, env });
      const line = run.out.split('\n').find((l) => l.startsWith('{"result"') || l.startsWith('{"error"'));
      t.ok(line, 'the step printed its outcome', { output: run.out.slice(-2000) });
      return { ...(JSON.parse(line ?? '{}') as { result?: unknown; error?: string }), log: run.out };
    };

    // The tree a job would cache: small files, and one file too big for a single upload.
    const deps = join(workspace, 'deps');
    mkdirSync(join(deps, 'lib'), { recursive: true });
    for (let i = 0; i < 50; i++) writeFileSync(join(deps, 'lib', `m${i}.js`), `module.exports = ${i}; // ${randomBytes(64).toString('hex')}\n`);
    const big = join(workspace, 'big.bin');
    const chunk = randomBytes(1024 * 1024);
    writeFileSync(big, Buffer.concat(Array.from({ length: BIG / chunk.length }, (_, i) => (i % 2 === 0 ? randomBytes(chunk.length) : chunk))));
    const files = [...Array.from({ length: 50 }, (_, i) => join(deps, 'lib', `m${i}.js`)), big];
    const digests = new Map(files.map((f) => [f, sha(f)]));
    const wipe = () => {
      rmSync(deps, { recursive: true, force: true });
      rmSync(big, { force: true });
    };
    const compare = (what: string) => {
      for (const [file, digest] of digests) if (sha(file) !== digest) return t.fail(`${what}: ${file} differs`);
      t.pass(`${what}: all ${digests.size} files restored byte for byte`);
    };

    t.same((await step('restore', 'linux-deps-1111', 'linux-deps-', 'deps', 'big.bin')).result, null, 'a miss before anything is saved');
    const saved = await step('save', 'linux-deps-1111', 'deps', 'big.bin');
    t.notOk(saved.error, saved.log.slice(-800));
    t.ok(Number(saved.result) > 0, 'saved, with a cache id');

    wipe();
    t.equal((await step('restore', 'linux-deps-1111', '', 'deps', 'big.bin')).result, 'linux-deps-1111', 'an exact hit');
    compare('exact key');

    wipe();
    t.equal((await step('restore', 'linux-deps-2222', 'linux-nothing-,linux-deps-', 'deps', 'big.bin')).result, 'linux-deps-1111', 'the second restore key matches by prefix');
    compare('restore key');

    // Another set of paths is another version: the same key misses.
    t.same((await step('restore', 'linux-deps-1111', 'linux-deps-', 'deps')).result, null, 'a version mismatch misses');

    const again = await step('save', 'linux-deps-1111', 'deps', 'big.bin');
    t.notOk(Number(again.result) > 0, 'saving a key that exists is refused, and the step goes on');
    t.match(again.log, /another job may be creating this cache|already exists/);

    // The entry is larder's: in the token's namespace, counted like larder's own.
    const stats = (await app.inject({ url: '/v1/stats', headers: { authorization: 'Bearer ops-token' } })).json() as { namespaces: Record<string, { entriesPublished: number; exact: number; prefix: number; miss: number; bytesOut: number; blobsUploaded: number }> };
    t.match(stats.namespaces['ci-cache'], { entriesPublished: 1, exact: 1, prefix: 1, miss: 2 }, 'in the token\'s namespace: one entry, the hits and misses counted');
    t.ok((stats.namespaces['ci-cache']?.bytesOut ?? 0) >= 2 * BIG, 'and the bytes served');
    t.match((await app.inject({ url: '/v1/stats', headers: { authorization: 'Bearer ops-token' } })).json(), { protocols: { 'github-actions': { hits: 2, misses: 2, writes: 1 } } }, 'and per protocol');
    t.ok((stats.namespaces['ci-cache']?.blobsUploaded ?? 0) >= 4, `the archive came in pieces (${stats.namespaces['ci-cache']?.blobsUploaded} blobs stored: the pieces and the archive)`);
  });
}
