import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { buildClientPackage } from '../../../client/package/build.ts';
import { TokenTable } from '../../../server/auth/access.ts';
import { runProcess } from '../../helpers/cli.ts';
import { spawnServer } from '../../helpers/server-process.ts';
import { tempDir } from '../../helpers/tmp.ts';

// A job inside a VPC with no internet gets the client from the cache server itself, with
// no token yet: one request for the package, then npm i -g, then larder runs.

t.test('the server serves the client it was built with, without a token, and npm installs it from there', async (t) => {
  const dist = tempDir(t, 'dist');
  const tarball = await buildClientPackage(dist);
  writeFileSync(join(dist, 'larder-linux-x64'), 'an executable');
  writeFileSync(join(dist, 'larder-9.9.9.tgz'), 'another version: not served');
  const tokens = join(dist, 'tokens.json');
  writeFileSync(tokens, JSON.stringify({ tokens: [{ name: 'ci', sha256: TokenTable.hash('t-ci'), grants: [{ namespaces: 'acme', access: 'read-write' }] }] }));
  const server = await spawnServer(t, ['--store', join(dist, 'store'), '--tokens', tokens, '--client-files', dist]);

  const index = await (await fetch(`${server.url}/client/`)).json() as { version: string; files: Array<{ name: string; size: number; sha256: string; url: string }> };
  const bytes = readFileSync(tarball);
  t.same(index.files.map((f) => f.name).sort(), ['larder-linux-x64', 'larder.tgz'], 'the package of this version and the executable');
  t.same(index.files.find((f) => f.name === 'larder.tgz'), { name: 'larder.tgz', size: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex'), url: '/client/larder.tgz' });

  const fetched = await fetch(`${server.url}/client/larder.tgz`);
  t.equal(fetched.status, 200);
  t.same(Buffer.from(await fetched.arrayBuffer()), bytes, 'the package, byte for byte');
  const missing = await fetch(`${server.url}/client/larder-darwin-arm64`);
  t.equal(missing.status, 404);
  t.match(((await missing.json()) as { message: string }).message, /npm run build:client/);
  t.equal((await fetch(`${server.url}/v1/ns/acme/entries`)).status, 401, 'the cache itself still needs a token');

  const prefix = tempDir(t, 'prefix');
  const installed = await runProcess('npm', ['i', '-g', '--prefix', prefix, '--no-audit', '--no-fund', `${server.url}/client/larder.tgz`], { cwd: dist, env: process.env });
  t.equal(installed.code, 0, installed.out);
  t.match(readFileSync(join(prefix, 'bin', 'larder'), 'utf8'), /^#!\/usr\/bin\/env node/, 'larder is installed from the server');
});
