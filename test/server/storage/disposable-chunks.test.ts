import { Socket } from 'node:net';
import { PassThrough, Readable } from 'node:stream';
import t from 'tap';
import { disposableChunks, hasDisposableChunks, likewise } from '../../../server/storage/disposable-chunks.ts';

// An upload's chunks are freed once written, but only a body's read from a socket.

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
