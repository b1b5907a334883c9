import { rmSync } from 'node:fs';
import t from 'tap';
import { injectableApp } from '../../helpers/app.ts';

t.test('healthz is up; readyz checks the store', async (t) => {
  const { app, storeDir } = await injectableApp(t);
  t.same((await app.inject({ url: '/healthz' })).json(), { status: 'ok' });
  t.equal((await app.inject({ url: '/readyz' })).statusCode, 200);
  rmSync(storeDir, { recursive: true, force: true });
  const notReady = await app.inject({ url: '/readyz' });
  t.equal(notReady.statusCode, 503);
  t.equal(notReady.json().code, 'LARDER_STORE_UNAVAILABLE');
  t.notMatch(notReady.body, storeDir, 'it does not say where the store is');
  t.same((await app.inject({ url: '/readyz' })).json().store, undefined);
  t.equal((await app.inject({ url: '/healthz' })).statusCode, 200, 'liveness does not depend on the store');
});

t.test('unknown routes answer with the catalogue', async (t) => {
  const { app } = await injectableApp(t);
  const res = await app.inject({ url: '/v2/nothing' });
  t.equal(res.statusCode, 404);
  t.equal(res.json().code, 'LARDER_NOT_FOUND');
});
