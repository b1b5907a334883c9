import { randomBytes } from 'node:crypto';
import { Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { disposableChunks, freeChunks, hasDisposableChunks, likewise } from '../../../server/storage/disposable-chunks.ts';

// An upload's chunks are freed once written, but only a marked body's, and only a chunk
// that is the whole of its memory.

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

t.test('only a body read from a socket, and a pass-through of one, is disposable', async (t) => {
  const raw = Readable.from([Buffer.from('x')]);
  t.notOk(hasDisposableChunks(raw), 'a stream is not, unless marked');
  t.equal(disposableChunks(raw, { remoteAddress: '127.0.0.1' }), raw, 'marking returns the same stream');
  t.notOk(hasDisposableChunks(raw), 'not from a socket (an injected request): not marked');
  disposableChunks(raw, new Socket());
  t.ok(hasDisposableChunks(raw), 'from a socket');
  t.ok(hasDisposableChunks(likewise(raw, new PassThrough())), 'a pass-through of a marked body');
  t.notOk(hasDisposableChunks(likewise(Readable.from([]), new PassThrough())), 'a pass-through of an unmarked one');
});
