import t from 'tap';
import type { FastifyRequest } from 'fastify';
import { Capabilities } from '../../../../server/protocols/gha/capability.ts';
import { FsStore } from '../../../../server/storage/fs.ts';
import { tempDir } from '../../../helpers/tmp.ts';

const request = { headers: { host: 'cache.internal:8080' }, protocol: 'http' } as unknown as FastifyRequest;

t.test('a capability names one thing, for a while, under the fleet\'s secret', async (t) => {
  let now = 1_000_000;
  const store = await new FsStore(tempDir(t, 'caps')).init();
  const caps = new Capabilities(store, () => now);
  const url = await caps.url(request, { kind: 'd', ns: 'web', id: 'ab'.repeat(32) }, 60_000);
  t.match(url, /^http:\/\/cache\.internal:8080\/gha\/blobs\/d~web~(ab){32}~1060000~[A-Za-z0-9_-]{43}$/);
  const capability = url.split('/').at(-1) as string;
  t.same(await caps.check(capability, 'd'), { kind: 'd', ns: 'web', id: 'ab'.repeat(32) });
  await t.rejects(caps.check(capability, 'u'), { code: 'LARDER_FORBIDDEN' }, 'not for the other kind');
  await t.rejects(caps.check(capability.replace('~web~', '~api~'), 'd'), { code: 'LARDER_FORBIDDEN', message: /signature this fleet did not make/ }, 'not for another namespace');
  await t.rejects(caps.check('d~web~x', 'd'), { code: 'LARDER_FORBIDDEN', message: /not a larder cache URL/ });
  now += 60_001;
  await t.rejects(caps.check(capability, 'd'), { code: 'LARDER_FORBIDDEN', message: /expired/ }, 'not after it expires');

  const again = new Capabilities(store, () => 1_000_000);
  t.same(await again.check(capability, 'd'), { kind: 'd', ns: 'web', id: 'ab'.repeat(32) }, 'another server of the fleet (the same store) honours it');
  const elsewhere = new Capabilities(await new FsStore(tempDir(t, 'caps-other')).init(), () => 1_000_000);
  await t.rejects(elsewhere.check(capability, 'd'), { code: 'LARDER_FORBIDDEN' }, 'a server of another store does not');
});

t.test('behind a load balancer, the URL is the one the client used', async (t) => {
  const caps = new Capabilities(await new FsStore(tempDir(t, 'caps-proxy')).init());
  const proxied = { headers: { host: '10.0.0.5:8080', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'cache.example.com' }, protocol: 'http' } as unknown as FastifyRequest;
  t.match(await caps.url(proxied, { kind: 'u', ns: 'gha', id: '42' }, 1000), /^https:\/\/cache\.example\.com\/gha\/blobs\/u~gha~42~/);
});
