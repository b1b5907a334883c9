import { randomBytes } from 'node:crypto';
import t from 'tap';
import { sendInTurns, TURN_BYTES } from '../../shared/send-in-turns.ts';
import { lateSocket } from '../helpers/late-socket.ts';

// Two chunks take turns: a chunk is given to be filled again only once the socket has
// taken what was written from it, so a socket that takes its writes late still gets
// every byte as it was written.

t.test('what each turn fills arrives in order, from two chunks, with pieces of memory of its own between', async (t) => {
  const data = randomBytes(5 * TURN_BYTES + 77);
  const header = Buffer.from('frame:');
  const socket = lateSocket();
  let at = 0;
  await sendInTurns(socket.to, (chunk) => {
    if (at >= data.length) return undefined;
    const n = data.copy(chunk, 0, at);
    at += n;
    return [header, chunk.subarray(0, n), Buffer.alloc(0)];
  });
  const expected = Buffer.concat(Array.from({ length: 6 }, (_, i) => [header, data.subarray(i * TURN_BYTES, (i + 1) * TURN_BYTES)]).flat());
  t.ok(socket.received().equals(expected), 'every byte, in order, none overwritten before it was taken');
  t.ok([...socket.memories].filter((m) => m.byteLength >= TURN_BYTES).length <= 2, 'six chunks of bytes sent from two');
  const empty = lateSocket();
  let turns = 0;
  await sendInTurns(empty.to, () => (turns++ === 0 ? [] : undefined));
  t.equal(empty.received().length, 0, 'a turn with nothing to write does not wait on the socket');
});

t.test('a fill that fails, or a socket that fails, fails the send with what failed', async (t) => {
  const failure = new Error('a file changed');
  await t.rejects(sendInTurns(lateSocket().to, () => Promise.reject(failure)), failure);
  const reset = new Error('connection reset');
  await t.rejects(sendInTurns(lateSocket((n) => (n === 2 ? reset : undefined)).to, (chunk) => [chunk]), reset);
});
