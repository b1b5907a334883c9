import type { Writable } from 'node:stream';
import { storedFrameOf } from './stored.ts';
import { CHUNK_BYTES, tarChunks } from './tar-write.ts';
import type { TreeEntry } from './tree.ts';

// A stored part (jars: stored.ts) is not held in memory from its packing to its upload.
// Its worker hashes its frame and keeps the memory for its next part; the upload reads
// the files again, into two chunks that take turns, as the socket takes them. Reading 75 MB
// from the page cache into memory used before takes ~15 ms, while m2's stored parts in
// flight put ~90 MB into memory not used before, at ~24 µs a page (bench/fresh-memory.ts).
// A file changed in between fails the upload as it would have failed the packing:
// tarChunks checks each file's size and time once read, and the server the digest.

/** Chunks of sends that ended well, for the next ones (a send takes two). */
const spare: Buffer[] = [];
const SPARE_KEPT = 8;

/** A stored part's frame as a request body that reads the part's files again as it is sent. */
export class StoredFrameAgain {
  readonly #root: string;
  readonly #entries: readonly TreeEntry[];
  readonly #size: number;

  /** The part of `entries` under `root`, whose tar is `size` bytes. */
  constructor(root: string, entries: readonly TreeEntry[], size: number) {
    this.#root = root;
    this.#entries = entries;
    this.#size = size;
  }

  /**
   * Writes the frame to `to`, a chunk of tar at a time, each chunk read into once the
   * socket has taken what was written from it two chunks before. Rejects with what
   * failed (a file that changed: LARDER_PATH_CHANGED; the socket) and closes the file
   * it was reading; the caller ends or destroys the request.
   */
  async sendTo(to: Writable): Promise<void> {
    const chunks = [spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES), spare.pop() ?? Buffer.allocUnsafeSlow(CHUNK_BYTES)];
    let taken = 0;
    const frame = storedFrameOf(tarChunks(this.#root, this.#entries, () => chunks[taken++ % 2] as Buffer), this.#size);
    const written: Array<Promise<void>> = [Promise.resolve(), Promise.resolve()];
    try {
      for (let turn = 0; ; turn ^= 1) {
        await written[turn];
        const next = frame.next();
        if (next.done) break;
        written[turn] = writeTogether(to, next.value);
        written[turn]?.catch(() => {}); // awaited in its turn, or below
      }
      await Promise.all(written);
    } finally {
      frame.return(undefined);
    }
    // Only after a send that ended well: a failed one's socket may still hold a chunk.
    spare.push(...chunks);
    spare.splice(SPARE_KEPT);
  }
}

/** Pieces handed to the socket together (one writev); resolves once it has taken them. */
function writeTogether(to: Writable, pieces: readonly Buffer[]): Promise<void> {
  return new Promise((resolve, reject) => {
    to.cork();
    pieces.forEach((piece, i) => to.write(piece, i === pieces.length - 1 ? (err) => (err ? reject(err) : resolve()) : undefined));
    to.uncork();
  });
}
