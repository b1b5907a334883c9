import t from 'tap';
import { injectableApp, manifestFor, putBlob } from '../helpers/app.ts';

// No body is coerced: a number is a JSON number, finite and bounded. "Infinity" as a
// string once passed as a number, made a counter Infinity, and broke /v1/stats and the
// dashboard until restart.

t.test('numbers in bodies are JSON numbers: strings such as "Infinity" are refused', async (t) => {
  const { app } = await injectableApp(t);
  for (const savedSeconds of ['Infinity', '1e309', '12']) {
    const res = await app.inject({ method: 'POST', url: '/v1/ns/team/reports', payload: { command: 'restore', outcome: 'hit', seconds: 1, savedSeconds } });
    t.equal(res.statusCode, 400, `savedSeconds ${JSON.stringify(savedSeconds)}`);
  }
  const digest = await putBlob(app, 'team', Buffer.from('p'));
  const manifest = manifestFor('k', [digest]);
  const withStringSize = { ...manifest, paths: [{ ...manifest.paths[0], files: 'Infinity' }] };
  t.equal((await app.inject({ method: 'PUT', url: '/v1/ns/team/entries/k', payload: withStringSize })).statusCode, 400, 'a manifest count as a string');
  const stats = (await app.inject({ url: '/v1/stats' })).json();
  t.equal(stats.namespaces.team?.timeSavedSeconds ?? 0, 0, 'no counter moved');
  t.equal((await app.inject({ url: '/v1/ns/team/entries?limit=5&prefix=k' })).statusCode, 200, 'a query still takes a number');
  t.equal((await app.inject({ url: '/v1/ns/team/entries?limit=Infinity' })).statusCode, 400);
});
