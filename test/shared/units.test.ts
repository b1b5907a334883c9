import t from 'tap';
import { count, mb } from '../../shared/units.ts';

t.test('counts read as toLocaleString en-US writes them', async (t) => {
  for (const n of [0, 7, 999, 1000, 33956, 1234567, 1000000, -4500, 12.5]) t.equal(count(n), n.toLocaleString('en-US'), String(n));
});

t.test('sizes are MB with one decimal', async (t) => {
  t.equal(mb(340_049_999), '340.0 MB');
});
