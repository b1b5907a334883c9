import t from 'tap';
import { decodeTimes, encodeTimes } from '../../../shared/wire/times.ts';

t.test('times round-trip exactly, in order', async (t) => {
  const lists = [
    [],
    [0],
    [1_700_000_000],
    [1_700_000_000, 1_700_000_000, 1_700_000_003, 1_699_999_990, 1_700_000_003],
    [-86_400, 0, 86_400, 2 ** 40], // before 1970, and far ahead
    Array.from({ length: 2000 }, (_, i) => 1_700_000_000 + Math.floor(Math.sin(i) * 20)),
  ];
  for (const times of lists) t.same(decodeTimes(encodeTimes(times), times.length), times, `${times.length} times`);
});

t.test('a fresh install takes a few bytes per member, and equal times almost none', async (t) => {
  const install = Array.from({ length: 500 }, (_, i) => 1_732_900_000 + Math.floor(i / 50));
  const encoded = encodeTimes(install);
  t.ok(encoded.length < 100, `500 times of one install in ${encoded.length} bytes: ${encoded}`);
  t.equal(encodeTimes(Array(1000).fill(1_732_900_000)), `${(1_732_900_000).toString(36)},0*rr`);
});

t.test('anything but exactly the declared count of well-formed times is refused, before memory is spent', async (t) => {
  const cases: Array<[string, string, number]> = [
    ['fewer times than members', '1,2', 3],
    ['more times than members', '1,2,3', 2],
    ['a run longer than the part', '0*zzzzzzzzz', 5],
    ['a run of zero', '5*0', 0],
    ['an upper-case digit', 'A', 1],
    ['an empty token', '1,,2', 3],
    ['a bare star', '*', 1],
    ['a time out of range', 'zzzzzzzzzz', 1],
    ['a negative run', '1*-2', 2],
  ];
  for (const [why, text, count] of cases) t.throws(() => decodeTimes(text, count), { code: 'LARDER_BAD_RESPONSE' }, why);
  t.same(decodeTimes('', 0), [], 'an empty part has no times');
});
