import t from 'tap';
import { mapLimit } from '../../shared/concurrency.ts';

t.test('keeps order and never runs more than the limit at once', async (t) => {
  let running = 0;
  let peak = 0;
  const out = await mapLimit([5, 1, 4, 2, 3], 2, async (n) => {
    running++;
    peak = Math.max(peak, running);
    await new Promise((r) => setTimeout(r, n * 3));
    running--;
    return n * 10;
  });
  t.same(out, [50, 10, 40, 20, 30]);
  t.equal(peak, 2);
  t.same(await mapLimit([], 4, async () => 1), []);
});

t.test('the first failure rejects, and no new work starts after it', async (t) => {
  const started: number[] = [];
  await t.rejects(
    mapLimit([1, 2, 3, 4, 5], 1, async (n) => {
      started.push(n);
      if (n === 2) throw new Error('boom');
      return n;
    }),
    /boom/,
  );
  t.same(started, [1, 2]);
});
