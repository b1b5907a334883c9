import t from 'tap';
import { parseRange } from '../../server/range.ts';

t.test('parses single byte ranges against the size', async (t) => {
  t.equal(parseRange(undefined, 10), undefined);
  t.same(parseRange('bytes=0-0', 10), { start: 0, end: 0 });
  t.same(parseRange('bytes=3-', 10), { start: 3, end: 9 });
  t.same(parseRange('bytes=-4', 10), { start: 6, end: 9 });
  t.same(parseRange('bytes=5-500', 10), { start: 5, end: 9 });
  t.equal(parseRange('bytes=5-2', 10), undefined, 'an invalid range is ignored');
  t.equal(parseRange('items=1-2', 10), undefined, 'another unit is ignored');
  t.equal(parseRange('bytes=1-2,4-5', 10), undefined, 'multiple ranges are served whole');
  t.throws(() => parseRange('bytes=10-', 10), { code: 'LARDER_RANGE_NOT_SATISFIABLE' });
  t.throws(() => parseRange('bytes=-0', 10), { code: 'LARDER_RANGE_NOT_SATISFIABLE' });
  t.throws(() => parseRange('bytes=0-', 0), { code: 'LARDER_RANGE_NOT_SATISFIABLE' });
});
