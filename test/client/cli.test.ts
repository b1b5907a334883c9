import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { request } from 'undici';
import { sha256Digest } from '../../shared/wire/digest.ts';
import { manifestFor } from '../helpers/app.ts';
import { runLarder } from '../helpers/cli.ts';
import { misbehavingProxy } from '../helpers/external/proxy.ts';
import { s3Skip } from '../helpers/external/s3.ts';
import { type Backend, startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { buildSampleTree, snapshotTree, tooDeepProject } from '../helpers/trees.ts';

const KEY = ['--key', 'deps-{os}-{hash:deps.lock}', '--restore-key', 'deps-{os}-', '--path', 'deps'];

const skipFor = (backend: Backend) => (backend === 's3' ? s3Skip : false);

function project(t: { teardown: (fn: () => void) => void }, lock = 'v1'): string {
  const dir = tempDir(t, 'project');
  writeFileSync(join(dir, 'deps.lock'), lock);
  return dir;
}

// The core round trips run against every storage backend.
for (const backend of ['fs', 's3'] as const) {
  t.test(`${backend}: miss, save, exact hit in another folder, prefix hit after a lockfile change`, { skip: skipFor(backend) }, async (t) => {
    const { url } = await startServer(t, {}, backend);
    const env = { LARDER_SERVER: url, LARDER_NAMESPACE: 'acme' };
    const first = project(t);

    const miss = await runLarder(['restore', ...KEY, '--json'], { cwd: first, env });
    t.equal(miss.code, 0);
    t.match(JSON.parse(miss.stdout), { outcome: 'miss', match: 'none' });
    t.match(miss.stderr, /miss for deps-linux-/);

    buildSampleTree(join(first, 'deps'));
    // Enough bytes for several parts, so a later change leaves some parts as they were.
    for (const pkg of ['pkg-a', 'pkg-b', 'pkg-c']) {
      mkdirSync(join(first, 'deps', pkg));
      writeFileSync(join(first, 'deps', pkg, 'data.bin'), Buffer.alloc(5 * 1024 * 1024, pkg));
    }
    const saved = await runLarder(['save', ...KEY, '--json'], { cwd: first, env });
    t.equal(saved.code, 0, saved.stderr);
    const saveReport = JSON.parse(saved.stdout);
    t.match(saveReport, { outcome: 'saved', paths: ['deps'], partsReused: 0 });
    t.ok(saveReport.parts >= 3 && saveReport.transferredBytes > 0, `${saveReport.parts} parts`);

    const again = await runLarder(['save', ...KEY, '--json'], { cwd: first, env });
    t.match(JSON.parse(again.stdout), { outcome: 'exists', transferredBytes: 0 }, 'a second save of the key uploads nothing');

    const second = project(t);
    const githubOutput = join(second, 'gh-output');
    const hit = await runLarder(['restore', ...KEY, '--json', '--report', 'report.json'], { cwd: second, env: { ...env, GITHUB_OUTPUT: githubOutput } });
    t.equal(hit.code, 0, hit.stderr);
    t.match(JSON.parse(hit.stdout), { outcome: 'hit', match: 'exact', key: saveReport.key, matchedKey: saveReport.key });
    t.same(snapshotTree(join(second, 'deps')), snapshotTree(join(first, 'deps')), 'restored byte-identical, with modes, links and times');
    t.match(readFileSync(githubOutput, 'utf8'), /cache-hit=true\nmatched-key=deps-linux-/);
    t.match(JSON.parse(readFileSync(join(second, 'report.json'), 'utf8')), { outcome: 'hit' });
    t.same(readdirSync(second).filter((n) => n.includes('larder')), [], 'no staging folder is left');

    const changed = project(t, 'v2');
    const prefix = await runLarder(['restore', ...KEY, '--json'], { cwd: changed, env: { ...env, GITHUB_OUTPUT: join(changed, 'out') } });
    t.match(JSON.parse(prefix.stdout), { outcome: 'hit', match: 'prefix', matchedKey: saveReport.key });
    t.not(JSON.parse(prefix.stdout).key, saveReport.key);
    t.match(readFileSync(join(changed, 'out'), 'utf8'), /cache-hit=false/);
    t.same(snapshotTree(join(changed, 'deps')), snapshotTree(join(first, 'deps')));

    // Saving the changed tree reuses every part that did not change.
    writeFileSync(join(changed, 'deps', 'added.js'), 'new file\n');
    const delta = await runLarder(['save', ...KEY, '--json'], { cwd: changed, env });
    const deltaReport = JSON.parse(delta.stdout);
    t.equal(deltaReport.outcome, 'saved');
    t.ok(deltaReport.partsReused >= 1, `${deltaReport.partsReused} part(s) reused`);
  });

  t.test(`${backend}: a restore replaces an existing folder whole`, { skip: skipFor(backend) }, async (t) => {
    const { url } = await startServer(t, {}, backend);
    const env = { LARDER_SERVER: url };
    const source = project(t);
    buildSampleTree(join(source, 'deps'));
    t.equal((await runLarder(['save', ...KEY], { cwd: source, env })).code, 0);
    const target = project(t);
    mkdirSync(join(target, 'deps'));
    writeFileSync(join(target, 'deps', 'stale.txt'), 'from an older install');
    const hit = await runLarder(['restore', ...KEY], { cwd: target, env });
    t.equal(hit.code, 0);
    t.notOk(existsSync(join(target, 'deps', 'stale.txt')), 'the old folder is gone');
    t.same(snapshotTree(join(target, 'deps')), snapshotTree(join(source, 'deps')));
  });

  t.test(`${backend}: a corrupted blob is an integrity error: nothing extracted, the target untouched`, { skip: skipFor(backend) }, async (t) => {
    const server = await startServer(t, {}, backend);
    const url = server.url;
    const env = { LARDER_SERVER: url, LARDER_NAMESPACE: 'acme' };
    const source = project(t);
    buildSampleTree(join(source, 'deps'));
    t.equal((await runLarder(['save', ...KEY], { cwd: source, env })).code, 0);
    t.ok((await server.corruptBlobs()) > 0, 'blobs corrupted on the server');
    const target = project(t);
    mkdirSync(join(target, 'deps'));
    writeFileSync(join(target, 'deps', 'mine.txt'), 'keep me');
    const before = snapshotTree(target);
    const restored = await runLarder(['restore', ...KEY, '--json'], { cwd: target, env });
    t.equal(restored.code, 0, 'the build goes on');
    t.match(JSON.parse(restored.stdout), { outcome: 'error', error: { code: 'LARDER_INTEGRITY' } });
    t.match(restored.stderr, /integrity error/);
    t.same(snapshotTree(target), before, 'the target folder is exactly as it was; no staging folder left');
    const strict = await runLarder(['restore', ...KEY, '--strict'], { cwd: target, env });
    t.equal(strict.code, 1);
  });
}

t.test('an upload cut off midway publishes nothing', async (t) => {
  const { url } = await startServer(t);
  // Every blob upload is cut off after its first bytes.
  const proxyUrl = await misbehavingProxy(t, url, (req) => {
    if (req.method !== 'PUT' || !req.url?.includes('/blobs/')) return false;
    req.once('data', () => req.socket.destroy());
    return true;
  });
  const source = project(t);
  buildSampleTree(join(source, 'deps'));
  const cut = await runLarder(['save', ...KEY, '--json'], { cwd: source, env: { LARDER_SERVER: proxyUrl } });
  t.equal(cut.code, 0, 'a failed save does not fail the build');
  t.match(JSON.parse(cut.stdout), { outcome: 'error', error: { code: 'LARDER_UNREACHABLE' } });
  const listed = await request(`${url}/v1/ns/default/entries`);
  t.same(await listed.body.json(), { entries: [] }, 'no entry was published');
});

t.test('a server that is down: a miss with one warning, exit 0; --strict exits 1', async (t) => {
  const cwd = project(t);
  buildSampleTree(join(cwd, 'deps'));
  const env = { LARDER_SERVER: 'http://127.0.0.1:1' };
  const restored = await runLarder(['restore', ...KEY], { cwd, env });
  t.equal(restored.code, 0);
  t.match(restored.stderr, /LARDER_UNREACHABLE/);
  t.match(restored.stderr, /continuing without the cache/);
  const saved = await runLarder(['save', ...KEY], { cwd, env });
  t.equal(saved.code, 0);
  const strict = await runLarder(['restore', ...KEY, '--strict'], { cwd, env });
  t.equal(strict.code, 1);
  t.match(strict.stderr, /larder restore: failing, as --strict asks/);
  t.notMatch(strict.stderr, /continuing/, '--strict never says it goes on');
  t.equal((await runLarder(['save', ...KEY, '--strict', '--timeout', '5'], { cwd, env })).code, 1);
});

t.test('larder run: runs the command on a miss and saves; skips it on an exact hit', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const install = ['sh', '-c', 'mkdir -p deps && echo installed > deps/marker && echo ran >> ran.log'];
  const first = project(t);
  const miss = await runLarder(['run', ...KEY, '--', ...install], { cwd: first, env });
  t.equal(miss.code, 0, miss.stderr);
  t.ok(existsSync(join(first, 'ran.log')), 'the command ran');
  t.match(miss.stderr, /saved deps-linux-/);
  const second = project(t);
  const hit = await runLarder(['run', ...KEY, '--', ...install], { cwd: second, env });
  t.equal(hit.code, 0);
  t.notOk(existsSync(join(second, 'ran.log')), 'an exact hit skips the command');
  t.equal(readFileSync(join(second, 'deps/marker'), 'utf8'), 'installed\n');
  const failing = project(t, 'other');
  const failed = await runLarder(['run', ...KEY, '--', 'sh', '-c', 'mkdir deps; exit 3'], { cwd: failing, env });
  t.equal(failed.code, 3, "the command's exit status is larder's");
  t.match(failed.stderr, /not saved/);
});

t.test('key, usage errors and help', async (t) => {
  const cwd = project(t);
  const key = await runLarder(['key', '--key', 'k-{os}-{hash:deps.lock}', '--explain'], { cwd });
  t.equal(key.code, 0);
  t.match(key.stdout, /^k-linux-[0-9a-f]{16}\n/);
  t.match(key.stdout, /deps\.lock/);
  const preset = await runLarder(['key', '--preset', 'npm', '--json'], { cwd });
  t.match(JSON.parse(preset.stdout), { key: /^npm-linux-/, restoreKeys: [/^npm-linux-.*-$/] });
  t.equal((await runLarder(['restore'], { cwd })).code, 2, 'no key: usage error');
  t.equal((await runLarder(['restore', '--preset', 'gradle'], { cwd })).code, 2);
  t.equal((await runLarder(['fly'], { cwd })).code, 2);
  t.equal((await runLarder(['run', '--preset', 'npm'], { cwd })).code, 2, 'run needs a command');
  t.equal((await runLarder(['restore', '--preset', 'npm', '-n', 'Bad/NS'], { cwd })).code, 2);
  const help = await runLarder(['--help'], { cwd });
  t.match(help.stdout, /larder restore/);
});

t.test('save with a missing path is skipped with a clear line', async (t) => {
  const { url } = await startServer(t);
  const cwd = project(t);
  const saved = await runLarder(['save', ...KEY, '--json'], { cwd, env: { LARDER_SERVER: url } });
  t.equal(saved.code, 0);
  t.match(JSON.parse(saved.stdout), { outcome: 'skipped', error: { code: 'LARDER_PATH_NOT_FOUND' } });
  t.match(saved.stderr, /deps does not exist/);
});

t.test('a save that cannot read a file under its path publishes nothing and says which file', async (t) => {
  const { url } = await startServer(t);
  const cwd = tooDeepProject(t);
  const env = { LARDER_SERVER: url };
  const saved = await runLarder(['save', '--key', 'deep', '--path', 'deps', '--json'], { cwd, env });
  t.equal(saved.code, 0, 'the build goes on');
  t.match(JSON.parse(saved.stdout), { outcome: 'error', error: { code: 'LARDER_PATH_UNREADABLE', message: /ENAMETOOLONG/ } });
  t.equal((await runLarder(['save', '--key', 'deep', '--path', 'deps', '--strict'], { cwd, env })).code, 1, '--strict fails it');
  const restored = await runLarder(['restore', '--key', 'deep', '--path', 'deps', '--json'], { cwd: tempDir(t), env });
  t.match(JSON.parse(restored.stdout), { outcome: 'miss' }, 'no half entry was published');
});

t.test('~ paths restore under $HOME', async (t) => {
  const { url } = await startServer(t);
  const home = tempDir(t, 'home');
  cpSync(join(import.meta.dirname, '..', 'helpers'), join(home, '.m2/repository/helpers'), { recursive: true });
  const args = ['--key', 'm2-{os}', '--path', '~/.m2/repository'];
  t.equal((await runLarder(['save', ...args], { cwd: home, env: { LARDER_SERVER: url, HOME: home } })).code, 0);
  const otherHome = tempDir(t, 'home2');
  const restored = await runLarder(['restore', ...args, '--json'], { cwd: otherHome, env: { LARDER_SERVER: url, HOME: otherHome } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' });
  t.same(snapshotTree(join(otherHome, '.m2/repository')), snapshotTree(join(home, '.m2/repository')));
});

t.test('a restore that stalls fails cleanly after --stall-timeout; the target is untouched', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url };
  const source = project(t);
  buildSampleTree(join(source, 'deps'));
  t.equal((await runLarder(['save', ...KEY], { cwd: source, env })).code, 0);
  // Every blob download is held open, sending nothing.
  const proxyUrl = await misbehavingProxy(t, url, (req) => req.method === 'GET' && Boolean(req.url?.includes('/blobs/')));
  const target = project(t);
  mkdirSync(join(target, 'deps'));
  writeFileSync(join(target, 'deps', 'mine.txt'), 'keep me');
  const before = snapshotTree(target);
  const started = Date.now();
  const stalled = await runLarder(['restore', ...KEY, '--stall-timeout', '1', '--json'], { cwd: target, env: { LARDER_SERVER: proxyUrl } });
  t.ok(Date.now() - started < 15_000, `gave up in ${Date.now() - started} ms`);
  t.equal(stalled.code, 0, 'the build goes on');
  t.match(JSON.parse(stalled.stdout), { outcome: 'error', error: { code: 'LARDER_TIMEOUT', message: /no progress/ } });
  t.same(snapshotTree(target), before, 'the target is as it was; no staging folder left');
});

t.test('an entry declaring more than the restore caps is refused before any download', async (t) => {
  const { url } = await startServer(t);
  const part = Buffer.from('tiny part');
  const digest = sha256Digest(part);
  await (await request(`${url}/v1/ns/default/blobs/${digest}`, { method: 'PUT', body: part, headers: { 'content-type': 'application/octet-stream' } })).body.dump();
  const key = 'deps-huge';
  const manifest = { ...manifestFor(key, [digest]), paths: [{ path: 'deps', parts: [{ digest, size: part.length, rawSize: 70 * 1024 ** 3, entries: 1 }], files: 1, fileBytes: 1 }] };
  t.equal((await request(`${url}/v1/ns/default/entries/${key}`, { method: 'PUT', body: JSON.stringify(manifest), headers: { 'content-type': 'application/json' } })).statusCode, 201);
  const target = project(t);
  const restored = await runLarder(['restore', '--key', key, '--path', 'deps', '--json'], { cwd: target, env: { LARDER_SERVER: url } });
  t.match(JSON.parse(restored.stdout), { outcome: 'error', error: { code: 'LARDER_UNSAFE_ARCHIVE', message: /over the .*-byte cap/ } });
  t.same(readdirSync(target).sort(), ['deps.lock'], 'nothing written');
});

t.test('time saved, the EMF line and the step summary', async (t) => {
  const { url } = await startServer(t);
  const env = { LARDER_SERVER: url, LARDER_NAMESPACE: 'acme' };
  const first = project(t);
  // The "install" takes ~1.5 s; larder run records that in the entry.
  const ran = await runLarder(['run', ...KEY, '--', 'sh', '-c', 'sleep 1.5; mkdir -p deps; echo x > deps/f'], { cwd: first, env });
  t.equal(ran.code, 0, ran.stderr);
  const second = project(t);
  const summary = join(second, 'summary.md');
  const hit = await runLarder(['restore', ...KEY, '--json', '--emf', '--emf-namespace', 'Team/Cache'], { cwd: second, env: { ...env, GITHUB_STEP_SUMMARY: summary } });
  const [jsonLine, emfText] = hit.stdout.trim().split('\n');
  const report = JSON.parse(jsonLine ?? '');
  t.match(report, { outcome: 'hit', match: 'exact' });
  t.ok(report.savedSeconds > 1 && report.savedSeconds < 2, `saved ${report.savedSeconds} s`);
  const emf = JSON.parse(emfText ?? '');
  t.match(emf, { Command: 'restore', CacheNamespace: 'acme', Outcome: 'hit', Hit: 1, Miss: 0, ExactHit: 1 });
  t.match(emf._aws.CloudWatchMetrics[0], { Namespace: 'Team/Cache', Dimensions: [['Command', 'CacheNamespace'], ['Command']] });
  t.ok(emf._aws.CloudWatchMetrics[0].Metrics.some((m: { Name: string; Unit: string }) => m.Name === 'SavedSeconds' && m.Unit === 'Seconds'));
  t.match(readFileSync(summary, 'utf8'), /\| larder restore \| key \|[\s\S]*\| exact hit \| `deps-linux-[0-9a-f]{16}` \|/);
  const stats = (await (await request(`${url}/v1/stats`)).body.json()) as { namespaces: Record<string, { timeSavedSeconds: number; clientRestores: number; clientSaves: number }> };
  t.match(stats.namespaces.acme, { clientRestores: 2, clientSaves: 1 });
  t.ok((stats.namespaces.acme?.timeSavedSeconds ?? 0) > 1, 'the server adds up the time saved');
});

t.test('--version, and a {hash:} glob that matches nothing: a warning, an error with --strict', async (t) => {
  const cwd = project(t);
  const version = await runLarder(['--version'], { cwd });
  t.equal(version.code, 0);
  t.match(version.stdout, /^larder \d+\.\d+\.\d+\n$/);
  const env = { LARDER_SERVER: 'http://127.0.0.1:1' };
  const args = ['restore', '--key', 'deps-{hash:no-such.lock}', '--path', 'deps', '--connect-timeout', '1'];
  const warned = await runLarder(args, { cwd, env });
  t.equal(warned.code, 0);
  t.match(warned.stderr, /larder: warning: \{hash:no-such\.lock\} matched no file in .*, so the key does not change when those files do/);
  const strict = await runLarder([...args, '--strict'], { cwd, env });
  t.equal(strict.code, 2, 'with --strict it is a usage error');
  t.match(strict.stderr, /LARDER_USAGE: \{hash:no-such\.lock\} matched no file/);
});
