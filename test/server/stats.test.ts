import t from 'tap';
import { OTHER_NAMESPACES, Stats } from '../../server/stats.ts';
import { injectableApp, manifestFor, putBlob } from '../helpers/app.ts';

// What clients report is bounded by what the server knows: a read token cannot make the
// dashboard say thousands of years were saved, nor grow the stats without end.

t.test('time saved counts only up to the build time of an entry the report names', async (t) => {
  const { app } = await injectableApp(t);
  const digest = await putBlob(app, 'team', Buffer.from('p'));
  const manifest = { ...manifestFor('npm-1', [digest]), client: { version: '0', os: 'linux', arch: 'x64', buildSeconds: 30 } };
  t.equal((await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/npm-1', payload: manifest })).statusCode, 201);
  const report = (extra: object) => app.inject({ method: 'POST', url: '/v1/ns/team/reports', payload: { command: 'restore', outcome: 'hit', seconds: 1, ...extra } });
  for (let i = 0; i < 20; i++) t.equal((await report({ savedSeconds: 31_536_000, key: 'npm-1' })).statusCode, 204);
  await report({ savedSeconds: 31_536_000 }); // names no entry
  await report({ savedSeconds: 31_536_000, key: 'npm-absent' });
  const stats = (await app.inject({ url: '/v1/stats' })).json();
  t.equal(stats.namespaces.team.timeSavedSeconds, 20 * 30, 'twenty restores of a 30 s build saved at most 10 minutes, not 20 years');
  t.equal(stats.namespaces.team.clientRestores, 22, 'every report still counts as a restore');
});

t.test('past the namespaces it tracks, the rest share one line', async (t) => {
  const stats = new Stats(3);
  for (let i = 0; i < 50; i++) stats.lookup(`ns-${i}`, 'none');
  const names = Object.keys(stats.snapshot().namespaces);
  t.same(names.sort(), [OTHER_NAMESPACES, 'ns-0', 'ns-1', 'ns-2'].sort());
  t.equal(stats.snapshot().namespaces[OTHER_NAMESPACES]?.lookups, 47);
  stats.lookup('ns-1', 'exact');
  t.equal(stats.snapshot().namespaces['ns-1']?.exact, 1, 'a tracked namespace keeps its own line');
});
