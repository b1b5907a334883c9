import t from 'tap';
import { injectableApp, manifestFor, putBlob } from '../../helpers/app.ts';

t.test('lookup: exact, then restore keys in order (newest of each), then none; stats count them, probes excepted', async (t) => {
  const { app } = await injectableApp(t);
  const digest = await putBlob(app, 'team', Buffer.from('p'));
  for (const key of ['npm-linux-old', 'npm-linux-new', 'npm-mac-1']) {
    t.equal((await app.inject({ method: 'PUT', url: `/v1/ns/team/entries/${key}`, payload: manifestFor(key, [digest]) })).statusCode, 201);
    await new Promise((r) => setTimeout(r, 15));
  }
  const lookup = async (body: object) => (await app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: body })).json();

  const exact = await lookup({ key: 'npm-linux-old', restoreKeys: ['npm-'] });
  t.equal(exact.match, 'exact');
  t.equal(exact.key, 'npm-linux-old');
  t.equal(exact.entry.key, 'npm-linux-old');

  const prefix = await lookup({ key: 'npm-linux-changed', restoreKeys: ['npm-linux-', 'npm-'] });
  t.equal(prefix.match, 'prefix');
  t.equal(prefix.key, 'npm-linux-new', 'the newest entry of the first restore key that matches');

  const second = await lookup({ key: 'npm-win-x', restoreKeys: ['npm-win-', 'npm-mac-'] });
  t.equal(second.key, 'npm-mac-1', 'falls through to the next restore key');

  const none = await lookup({ key: 'pip-x', restoreKeys: ['pip-'] });
  t.same(none, { match: 'none' });

  const other = await app.inject({ method: 'POST', url: '/v1/ns/elsewhere/lookup', payload: { key: 'npm-linux-old' } });
  t.equal(other.json().match, 'none', 'namespaces are separate');

  const probe = await lookup({ key: 'npm-linux-changed', restoreKeys: ['npm-linux-'], probe: true });
  t.equal(probe.key, 'npm-linux-new', "a save's probe gets the same answer");
  await lookup({ key: 'npm-nothing', probe: true });

  const stats = (await app.inject({ url: '/v1/stats' })).json();
  t.match(stats.namespaces.team, { lookups: 4, exact: 1, prefix: 2, miss: 1, hitRate: 0.75, entriesPublished: 3, blobsUploaded: 1 });
  t.match(stats.namespaces.elsewhere, { lookups: 1, miss: 1, hitRate: 0 });
});

t.test('lookup validates its body', async (t) => {
  const { app } = await injectableApp(t);
  for (const body of [{}, { key: 'a b' }, { key: 'k', restoreKeys: ['ok', 'not ok'] }, { key: 'k', restoreKeys: Array(33).fill('p') }, { key: 'k', probe: 'yes' }]) {
    const res = await app.inject({ method: 'POST', url: '/v1/ns/team/lookup', payload: body });
    t.equal(res.statusCode, 400, JSON.stringify(body).slice(0, 60));
    t.equal(res.json().code, 'LARDER_BAD_REQUEST');
  }
});
