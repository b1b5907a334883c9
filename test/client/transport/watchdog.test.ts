import t from 'tap';
import { Watchdog } from '../../../client/transport/watchdog.ts';

t.test('fires once nothing has ticked for the timeout', async (t) => {
  const dog = new Watchdog(200);
  const started = Date.now();
  await t.rejects(dog.stalled, { code: 'LARDER_TIMEOUT', message: /no progress for 0.2 s/ });
  t.ok(Date.now() - started >= 190);
});

t.test('ticks keep it quiet; stop ends it', async (t) => {
  const dog = new Watchdog(150);
  let fired = false;
  dog.stalled.catch(() => (fired = true));
  for (let i = 0; i < 8; i++) {
    await new Promise((r) => setTimeout(r, 50));
    dog.tick();
  }
  dog.stop();
  await new Promise((r) => setTimeout(r, 300));
  t.equal(fired, false);
});
