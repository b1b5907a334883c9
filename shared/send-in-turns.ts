import type { Writable } from 'node:stream';

// A body sent from two chunks of memory that take turns, each filled again only once the
// socket has taken what was written from it: a file's bytes (shared/file-body.ts: a blob
// the server sends, a part too big for memory the client uploads) or a stored part read
// again from its files (client/archive/reread.ts). Every fresh buffer is memory outside
// V8's heap, whose pages cost on first touch, and whose total drives full collections.

/** Each chunk's size. */
export const TURN_BYTES = 1024 * 1024;
/** Chunks of sends that ended well, for the next ones (a send takes two). */
const spare: Buffer[] = [];
const SPARE_KEPT = 8;

/** What a send writes from a chunk it was given: views of it (and of memory of its own), or undefined once it is done. */
export type Fill = (chunk: Buffer) => readonly Buffer[] | undefined | Promise<readonly Buffer[] | undefined>;

/**
 * Writes to `to` what `fill` puts in two chunks of TURN_BYTES by turns, each chunk given
 * again only once `to` has taken what was written from it. Rejects with what failed, on
 * either side; the caller ends or destroys the request.
 */
export async function sendInTurns(to: Writable, fill: Fill): Promise<void> {
  const chunks = [spare.pop() ?? Buffer.allocUnsafeSlow(TURN_BYTES), spare.pop() ?? Buffer.allocUnsafeSlow(TURN_BYTES)] as const;
  const written: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
  for (let turn: 0 | 1 = 0; ; turn = turn === 0 ? 1 : 0) {
    await written[turn];
    const pieces = await fill(chunks[turn]);
    if (pieces === undefined) break;
    written[turn] = writeTogether(to, pieces);
    written[turn]?.catch(() => {}); // awaited in its turn, or below
  }
  await Promise.all(written);
  // Only after a send that ended well: a failed one's socket may still hold a chunk.
  spare.push(...chunks);
  spare.splice(SPARE_KEPT);
}

/** Pieces handed to the socket together (one writev); resolves once it has taken them. */
function writeTogether(to: Writable, pieces: readonly Buffer[]): Promise<void> {
  if (pieces.length === 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    to.cork();
    pieces.forEach((piece, i) => to.write(piece, i === pieces.length - 1 ? (err) => (err ? reject(err) : resolve()) : undefined));
    to.uncork();
  });
}
