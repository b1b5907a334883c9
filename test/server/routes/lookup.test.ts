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

t.test('entries an untrusted token published are passed over (and named) unless asked for; the publisher is the server\'s to say', async (t) => {
  const { TokenTable } = await import('../../../server/auth/access.ts');
  const tokens = new TokenTable({
    tokens: [
      { name: 'ci-main', sha256: TokenTable.hash('t-main'), grants: [{ namespaces: 'acme', access: 'read-write', keyPrefixes: ['main-'] }] },
      { name: 'ci-pull-requests', sha256: TokenTable.hash('t-pr'), untrusted: true, grants: [{ namespaces: 'acme', access: 'read', keyPrefixes: ['main-'] }, { namespaces: 'acme', access: 'read-write', keyPrefixes: ['pr-'] }] },
    ],
  });
  const { app } = await injectableApp(t, { tokens });
  const as = (token: string) => ({ authorization: `Bearer ${token}` });
  const digest = await putBlob(app, 'acme', Buffer.from('p'), as('t-main'));
  const publish = async (token: string, key: string, extra: object = {}) => (await app.inject({ method: 'PUT', url: `/v1/ns/acme/entries/${key}`, headers: as(token), payload: { ...manifestFor(key, [digest]), ...extra } })).statusCode;
  t.equal(await publish('t-main', 'main-npm-1'), 201);
  // One pull request publishes another's exact key before it runs, claiming to be main.
  t.equal(await publish('t-pr', 'pr-npm-victim', { publisher: { name: 'ci-main' } }), 201);
  const lookup = async (body: object) => (await app.inject({ method: 'POST', url: '/v1/ns/acme/lookup', headers: as('t-pr'), payload: body })).json();

  const victim = await lookup({ key: 'pr-npm-victim', restoreKeys: ['pr-npm-', 'main-npm-'] });
  t.equal(victim.match, 'prefix', "the planted exact hit is passed over: the victim's install runs");
  t.equal(victim.key, 'main-npm-1', 'and it starts from the trusted tier');
  t.same(victim.passedOver, ['pr-npm-victim'], 'naming what it passed over');
  t.same(victim.entry.publisher, { name: 'ci-main' });

  const asked = await lookup({ key: 'pr-npm-victim', allowUntrusted: true });
  t.equal(asked.match, 'exact', 'a job that asks for untrusted entries gets them');
  t.same(asked.entry.publisher, { name: 'ci-pull-requests', untrusted: true }, 'the server names the publisher, whatever the client claimed');
  t.same(await lookup({ key: 'pr-npm-other', restoreKeys: ['pr-npm-'] }), { match: 'none', passedOver: ['pr-npm-victim'] });
});
