import t from 'tap';
import { DEFAULT_PORT, parseServerConfig } from '../../server/config.ts';

t.test('defaults: loopback, the default port, ./larder-data', async (t) => {
  t.match(parseServerConfig([], {}), { host: '127.0.0.1', port: DEFAULT_PORT, store: { kind: 'fs', root: './larder-data' }, token: undefined });
});

t.test('flags win over LARDER_* variables', async (t) => {
  const config = parseServerConfig(['--port', '9000', '--store', '/srv/cache'], { LARDER_PORT: '8000', LARDER_HOST: '0.0.0.0', LARDER_TOKENS_FILE: '/etc/larder/tokens.json' });
  t.match(config, { host: '0.0.0.0', port: 9000, store: { root: '/srv/cache' }, tokensFile: '/etc/larder/tokens.json' });
  t.equal(parseServerConfig(['--help'], {}), 'help');
});

t.test('without tokens the server stays on loopback', async (t) => {
  t.throws(() => parseServerConfig(['--host', '0.0.0.0'], {}), { code: 'LARDER_USAGE', message: /refusing to listen on 0.0.0.0 without tokens/ });
  t.throws(() => parseServerConfig([], { LARDER_HOST: '10.1.2.3' }), { code: 'LARDER_USAGE' });
  for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) t.equal((parseServerConfig(['--host', host], {}) as { host: string }).host, host);
  t.match(parseServerConfig(['--host', '0.0.0.0', '--token', 'x'], {}), { host: '0.0.0.0', token: 'x' });
});

t.test('bad values are usage errors', async (t) => {
  t.throws(() => parseServerConfig(['--port', '70000'], {}), { code: 'LARDER_USAGE' });
  t.throws(() => parseServerConfig(['--nope'], {}), { code: 'LARDER_USAGE' });
  t.throws(() => parseServerConfig(['--max-blob-size', '-1'], {}), { code: 'LARDER_USAGE' });
  t.throws(() => parseServerConfig(['--log-level', 'loud'], {}), { code: 'LARDER_USAGE' });
  t.throws(() => parseServerConfig(['--store', 'gs://bucket/prefix'], {}), { code: 'LARDER_USAGE' });
  t.throws(() => parseServerConfig(['--store', 's3://Bad_Bucket'], {}), { code: 'LARDER_USAGE' });
});

t.test('an s3:// store with endpoint, region and path style', async (t) => {
  const config = parseServerConfig(['--store', 's3://cache-bucket/teams/ci/', '--s3-endpoint', 'https://bucket.vpce-1a2b.s3.eu-west-1.vpce.amazonaws.com'], { AWS_REGION: 'eu-west-1', LARDER_S3_FORCE_PATH_STYLE: '1' });
  t.match(config, { store: { kind: 's3', bucket: 'cache-bucket', prefix: 'teams/ci/', endpoint: 'https://bucket.vpce-1a2b.s3.eu-west-1.vpce.amazonaws.com', region: 'eu-west-1', forcePathStyle: true } });
  t.match(parseServerConfig(['--store', 's3://b-1'], {}), { store: { bucket: 'b-1', prefix: '', region: 'us-east-1', forcePathStyle: false } });
});

t.test('retention: caps and timings from flags or variables, none by default', async (t) => {
  t.same((parseServerConfig([], {}) as { retention: unknown }).retention, { maxBytes: undefined, maxIdleMs: undefined, graceMs: 3_600_000, collectEveryMs: 3_600_000 });
  const config = parseServerConfig(['--max-size', '200G', '--max-idle', '30d'], { LARDER_GC_GRACE: '2h', LARDER_COLLECT_EVERY: '15m', LARDER_MAX_SIZE: '1G' });
  t.same((config as { retention: unknown }).retention, { maxBytes: 200 * 1024 ** 3, maxIdleMs: 30 * 86_400_000, graceMs: 7_200_000, collectEveryMs: 900_000 });
  t.throws(() => parseServerConfig(['--max-idle', '30 days'], {}), { code: 'LARDER_USAGE', message: /--max-idle 30 days: expected a duration such as 30m, 12h or 30d/ });
  t.throws(() => parseServerConfig(['--max-size', 'lots'], {}), { code: 'LARDER_USAGE', message: /--max-size lots: expected a size/ });
  t.throws(() => parseServerConfig(['--collect-every', '10s'], {}), { code: 'LARDER_USAGE', message: /at least 1m/ });
});
