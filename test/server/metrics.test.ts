import { rmSync } from 'node:fs';
import t from 'tap';
import { TokenTable } from '../../server/auth/access.ts';
import { injectableApp, manifestFor, putBlob } from '../helpers/app.ts';

/** One sample's value from Prometheus text, or 0 when the series does not exist. */
function sample(text: string, series: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  return line ? Number(line.slice(series.length + 1)) : 0;
}

t.test('after saves and restores, /metrics and /v1/stats show the same counts', async (t) => {
  const { app, storeDir } = await injectableApp(t);
  const d1 = await putBlob(app, 'team', Buffer.from('part one'));
  await putBlob(app, 'team', Buffer.from('part two!'));
  await app.inject({ method: 'POST', url: '/v1/ns/team/blobs/missing', payload: { digests: [d1] } }); // one already present
  await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/npm-1', payload: manifestFor('npm-1', [d1]) });
  await app.inject({ url: `/v1/ns/team/blobs/${d1}` });
  for (const [key, restoreKeys] of [['npm-1', []], ['npm-2', ['npm-']], ['pip-1', ['pip-']], ['pip-2', []]] as const) {
    await app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: { key, restoreKeys } });
  }
  rmSync(storeDir, { recursive: true, force: true });
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 503);

  const res = await app.inject({ url: '/metrics' });
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /^text\/plain/);
  const text = res.body;
  const stats = (await app.inject({ url: '/v1/stats' })).json().namespaces.team;
  t.match(stats, { lookups: 4, exact: 1, prefix: 1, miss: 2, hitRate: 0.5, blobsUploaded: 2, blobsPresent: 1, entriesPublished: 1, bytesIn: 17, bytesOut: 8 });
  t.equal(sample(text, 'larder_lookups_total{namespace="team",result="exact"}'), stats.exact);
  t.equal(sample(text, 'larder_lookups_total{namespace="team",result="prefix"}'), stats.prefix);
  t.equal(sample(text, 'larder_lookups_total{namespace="team",result="miss"}'), stats.miss);
  t.equal(sample(text, 'larder_blobs_total{namespace="team",outcome="uploaded"}'), stats.blobsUploaded);
  t.equal(sample(text, 'larder_blobs_total{namespace="team",outcome="already_present"}'), stats.blobsPresent);
  t.equal(sample(text, 'larder_entries_published_total{namespace="team"}'), stats.entriesPublished);
  t.equal(sample(text, 'larder_bytes_total{namespace="team",direction="in"}'), stats.bytesIn);
  t.equal(sample(text, 'larder_bytes_total{namespace="team",direction="out"}'), stats.bytesOut);
  t.equal(sample(text, 'larder_store_errors_total{code="LARDER_STORE_UNAVAILABLE"}'), 1);
  t.ok(sample(text, 'larder_http_request_duration_seconds_count{route="/v1/ns/:ns/lookup",method="POST",status="200"}') === 4, 'latency by route pattern');
  t.ok(sample(text, 'larder_process_resident_memory_bytes') > 10e6);
});

t.test('with tokens, /metrics needs an admin token', async (t) => {
  const tokens = new TokenTable({ tokens: [{ name: 'admin', sha256: TokenTable.hash('a'), admin: true }, { name: 'ci', sha256: TokenTable.hash('c'), grants: [{ namespaces: '*', access: 'read-write' }] }] });
  const { app } = await injectableApp(t, { tokens });
  t.equal((await app.inject({ url: '/metrics' })).statusCode, 401);
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer c' } })).statusCode, 403);
  t.equal((await app.inject({ url: '/metrics', headers: { authorization: 'Bearer a' } })).statusCode, 200);
});
