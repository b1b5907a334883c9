import { randomBytes } from 'node:crypto';
import t from 'tap';
import { freeChunks } from '../../shared/own-memory.ts';

t.test('a chunk that is the whole of its memory is freed; a view into shared memory is not', async (t) => {
  const whole = Buffer.from(randomBytes(70_000)); // memory of its own
  const shared = Buffer.from(randomBytes(70_000));
  const view = shared.subarray(1000, 5000);
  const before = Buffer.from(view);
  freeChunks([whole, view]);
  t.equal(whole.buffer.byteLength, 0, 'freed: its memory is detached');
  t.equal(shared.buffer.byteLength, 70_000, 'a view is left alone');
  t.ok(view.equals(before), 'its bytes intact');
});

t.test("Node's pool of small buffers is never freed, even whole", async (t) => {
  const pooled = Buffer.from('small');
  const pool = Buffer.from(pooled.buffer); // a view of the whole pool
  freeChunks([pool]);
  t.equal(pooled.buffer.byteLength, Buffer.poolSize, 'the pool stays');
  t.equal(pooled.toString(), 'small', 'and what is in it');
});
