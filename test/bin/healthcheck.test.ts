import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { spawnServer } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/tmp.ts';

// The image's HEALTHCHECK asks the server on the port and scheme it really serves: a
// LARDER_PORT other than 7373, or TLS, must not make a healthy container look dead.

const SCRIPT = fileURLToPath(new URL('../../bin/healthcheck.js', import.meta.url));

async function check(env: NodeJS.ProcessEnv): Promise<number | null> {
  const child = spawn(process.execPath, [SCRIPT], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
  const [code] = await once(child, 'exit');
  return code as number | null;
}

t.test('the health check follows LARDER_PORT and TLS', async (t) => {
  const plain = await spawnServer(t, ['--store', tempDir(t, 'hc-plain')]);
  t.equal(await check({ LARDER_PORT: new URL(plain.url).port }), 0, 'healthy on its own port');
  t.equal(await check({ LARDER_PORT: '1' }), 1, 'nothing on port 1: unhealthy');

  const dir = tempDir(t, 'hc-tls');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=larder.internal', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const tls = await spawnServer(t, ['--store', join(dir, 'store'), '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')]);
  const port = new URL(tls.url).port;
  t.equal(await check({ LARDER_PORT: port, LARDER_TLS_CERT: join(dir, 'cert.pem') }), 0, 'healthy over TLS, whatever name the certificate has');
  t.equal(await check({ LARDER_PORT: port }), 1, 'plain HTTP to a TLS port is not healthy');
});

t.test('the Dockerfile runs this health check', async (t) => {
  t.match(readFileSync(fileURLToPath(new URL('../../Dockerfile', import.meta.url)), 'utf8'), /^HEALTHCHECK .*CMD \["node", "bin\/healthcheck\.js"\]$/m);
});
