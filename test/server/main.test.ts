import { execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { request } from 'undici';
import { TokenTable } from '../../server/auth/access.ts';
import { runLarder, runProcess } from '../helpers/cli.ts';
import { S3_BUCKET, s3Skip, s3StoreOptions } from '../helpers/external/s3.ts';
import { SERVER_BIN, spawnServer } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { mountTmpfs, tmpfsSkip } from '../helpers/external/tmpfs.ts';
import { buildSampleTree, snapshotTree } from '../helpers/trees.ts';

t.test('larder-server starts on the disk store, says how it runs, and stops on SIGTERM', async (t) => {
  const store = tempDir(t, 'main-store');
  const server = await spawnServer(t, ['--store', store]);
  t.match(server.stderr(), /disk store in .*main-store.*no tokens: OPEN to anyone who can reach it, so loopback only/);
  const health = await request(`${server.url}/readyz`);
  t.equal(health.statusCode, 200);
  await health.body.dump();
  server.child.kill('SIGTERM');
  const [code] = await once(server.child, 'exit');
  t.equal(code, 0, 'a graceful exit');
});

t.test('the tokens file as an environment variable (a container\'s secret): tokens required, a broken one refused in one line', async (t) => {
  const tokens = JSON.stringify({ tokens: [{ name: 'ci', sha256: TokenTable.hash('env-token'), grants: [{ namespaces: '*', access: 'read-write' }] }] });
  const server = await spawnServer(t, ['--store', tempDir(t, 'env-tokens')], { LARDER_TOKENS_JSON: tokens });
  const anonymous = await request(`${server.url}/v1/ns/x/entries`);
  t.equal(anonymous.statusCode, 401, 'no token, no access');
  await anonymous.body.dump();
  const known = await request(`${server.url}/v1/ns/x/entries?prefix=&limit=10`, { headers: { authorization: 'Bearer env-token' } });
  t.equal(known.statusCode, 200, 'the token from the variable works');
  await known.body.dump();
  const broken = await runProcess(process.execPath, [SERVER_BIN, '--host', '0.0.0.0', '--port', '0', '--store', tempDir(t, 'env-broken')], { cwd: tempDir(t, 'env-cwd'), env: { ...process.env, LARDER_TOKENS_JSON: '{"tokens": [' } });
  t.equal(broken.code, 2);
  t.match(broken.out, /^larder-server: LARDER_USAGE: LARDER_TOKENS_JSON: .*JSON/m);
  t.notMatch(broken.out, /\n\s+at /, 'no stack trace');
});

t.test('--version prints the version', async (t) => {
  const printed = execFileSync(process.execPath, [fileURLToPath(new URL('../../bin/larder-server.js', import.meta.url)), '--version']).toString();
  t.match(printed, /^larder-server \d+\.\d+\.\d+\n$/);
});

t.test('a usage error exits 2 with the reason', async (t) => {
  await t.rejects(spawnServer(t, ['--port', 'eighty']), /exited with 2[\s\S]*LARDER_USAGE/);
  await t.rejects(spawnServer(t, ['--host', '0.0.0.0']), /refusing to listen on 0.0.0.0 without tokens/);
  await t.rejects(spawnServer(t, ['--tokens', '/nonexistent/tokens.json']), /--tokens \/nonexistent\/tokens.json: ENOENT: no such file; write one \(docs\/tokens.example.json shows the format/);
});

t.test('a port in use and a store it cannot write: one line each, no stack trace', async (t) => {
  const taken = await spawnServer(t, ['--store', tempDir(t, 'first')]);
  const port = new URL(taken.url).port;
  await t.rejects(spawnServer(t, ['--store', tempDir(t, 'second'), '--port', port]), new RegExp(`exited with 2[\\s\\S]*LARDER_USAGE: 127\\.0\\.0\\.1:${port} is in use \\(EADDRINUSE\\); stop what listens there or choose another --port\\n$`));
  if (tmpfsSkip) return;
  const readOnly = mountTmpfs(t, 1024 * 1024, { readOnly: true });
  const failed = spawnServer(t, ['--store', join(readOnly, 'data')]);
  await t.rejects(failed, /exited with 1[\s\S]*LARDER_PATH_UNWRITABLE: cannot write .*\(EROFS\); check its owner and permissions\n$/);
});

t.test('over TLS with a tokens file: the CLI restores and saves through it', async (t) => {
  const dir = tempDir(t, 'tls');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  writeFileSync(join(dir, 'tokens.json'), JSON.stringify({ tokens: [{ name: 'ci', sha256: TokenTable.hash('ci-secret'), grants: [{ namespaces: 'acme', access: 'read-write' }] }] }));
  const server = await spawnServer(t, ['--store', join(dir, 'store'), '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem'), '--tokens', join(dir, 'tokens.json')]);
  t.match(server.url, /^https:\/\/127\.0\.0\.1:/);
  t.match(server.stderr(), /bearer tokens required/);
  const env = { LARDER_SERVER: server.url, LARDER_NAMESPACE: 'acme', NODE_EXTRA_CA_CERTS: join(dir, 'cert.pem') };
  const project = tempDir(t, 'tls-project');
  buildSampleTree(join(project, 'deps'));
  const args = ['--key', 'tls-{os}', '--path', 'deps', '--json'];
  const denied = await runLarder(['save', ...args], { cwd: project, env });
  t.match(JSON.parse(denied.stdout), { outcome: 'error', error: { code: 'LARDER_UNAUTHORIZED' } }, 'no token: refused');
  const saved = await runLarder(['save', ...args, '--token', 'ci-secret'], { cwd: project, env });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' }, saved.stderr);
  const other = tempDir(t, 'tls-restore');
  const restored = await runLarder(['restore', ...args, '--token', 'ci-secret'], { cwd: other, env });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' }, restored.stderr);
  t.same(snapshotTree(join(other, 'deps')), snapshotTree(join(project, 'deps')));
});

t.test('two server processes on one bucket serve the same cache', { skip: s3Skip }, async (t) => {
  const { prefix } = await s3StoreOptions();
  const args = ['--store', `s3://${S3_BUCKET}/${prefix}`, '--s3-endpoint', process.env.S3_ENDPOINT ?? '', '--s3-force-path-style'];
  const [a, b] = await Promise.all([spawnServer(t, args), spawnServer(t, args)]);
  t.match(a.stderr(), /S3 store in s3:\/\/larder-test\//);
  const key = ['--key', 'shared-{os}', '--path', 'deps'];
  const first = tempDir(t, 'proc-a');
  buildSampleTree(join(first, 'deps'));
  const saved = await runLarder(['save', ...key, '--json'], { cwd: first, env: { LARDER_SERVER: a?.url } });
  t.match(JSON.parse(saved.stdout), { outcome: 'saved' }, saved.stderr);
  const second = tempDir(t, 'proc-b');
  const restored = await runLarder(['restore', ...key, '--json'], { cwd: second, env: { LARDER_SERVER: b?.url } });
  t.match(JSON.parse(restored.stdout), { outcome: 'hit', match: 'exact' }, restored.stderr);
  t.same(snapshotTree(join(second, 'deps')), snapshotTree(join(first, 'deps')));
  const again = await runLarder(['save', ...key, '--json'], { cwd: second, env: { LARDER_SERVER: b?.url } });
  t.match(JSON.parse(again.stdout), { outcome: 'exists' }, 'the other server knows the entry');
});

t.test('npm start stops when its PID gets SIGTERM or SIGINT', async (t) => {
  const repo = fileURLToPath(new URL('../../', import.meta.url));
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    const { spawn } = await import('node:child_process');
    const npm = spawn('npm', ['start', '--silent', '--', '--port', '0', '--store', tempDir(t, 'npm-start')], { cwd: repo, stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    npm.stderr.on('data', (d: Buffer) => (stderr += d));
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`npm start did not start:\n${stderr}`)), 20_000);
      npm.stderr.on('data', () => {
        const found = /listening on (http:\/\/\S+)/.exec(stderr)?.[1];
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      });
    });
    npm.kill(signal);
    await once(npm, 'exit');
    // The server itself is gone too, not orphaned: its port refuses connections.
    let refused = false;
    for (let i = 0; i < 50 && !refused; i++) {
      refused = await fetch(`${url}/healthz`).then(() => false, () => true);
      if (!refused) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    t.ok(refused, `${signal} to npm's PID stopped the server`);
  }
});

t.test('one log line per request; health probes only at debug', async (t) => {
  const store = tempDir(t, 'logs');
  const logLines = async (level: string) => {
    const server = await spawnServer(t, ['--store', store, '--log-level', level]);
    let stdout = '';
    server.child.stdout?.on('data', (d: Buffer) => (stdout += d));
    for (const path of ['/healthz', '/readyz', '/v1/stats']) await (await fetch(`${server.url}${path}`)).arrayBuffer();
    server.child.kill('SIGTERM');
    await once(server.child, 'exit');
    return stdout.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { msg: string; url?: string });
  };
  const info = await logLines('info');
  t.same(info.filter((l) => l.url).map((l) => [l.msg, l.url]), [['request', '/v1/stats']], 'at info: the stats request, no probe');
  const debug = await logLines('debug');
  t.same(debug.filter((l) => l.url).map((l) => [l.msg, l.url]), [['probe', '/healthz'], ['probe', '/readyz'], ['request', '/v1/stats']], 'at debug: the probes too');
});
