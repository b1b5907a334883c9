import t from 'tap';
import { once } from '../../client/once.ts';

t.test('the computation runs on the first call only, whatever it returns', async (t) => {
  let runs = 0;
  const version = once(() => (runs++, ''));
  t.equal(version(), '');
  t.equal(version(), '', 'an empty string is a result, not "not yet"');
  t.equal(runs, 1);
  const load = once(async () => (runs++, 42));
  t.equal(load(), load(), 'the same promise each time');
  t.equal(await load(), 42);
  t.equal(runs, 2);
});
