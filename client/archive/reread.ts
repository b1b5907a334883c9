import type { Writable } from 'node:stream';
import { storedFrameOf } from './stored.ts';
import { tarChunks } from './tar-write.ts';
import { sendInTurns } from '../../shared/send-in-turns.ts';
import type { TreeEntry } from './tree.ts';

// A stored part (jars: stored.ts) is not held in memory from its packing to its upload.
// Its worker hashes its frame and keeps the memory for its next part; the upload reads
// the files again, into two chunks that take turns, as the socket takes them. Reading 75 MB
// from the page cache into memory used before takes ~15 ms, while m2's stored parts in
// flight put ~90 MB into memory not used before, at ~24 µs a page (bench/fresh-memory.ts).
// A file changed in between fails the upload as it would have failed the packing:
// tarChunks checks each file's size and time once read, and the server the digest.

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
   * Writes the frame to `to`, a chunk of tar at a time, from two chunks that take turns
   * (shared/send-in-turns.ts). Rejects with what failed (a file that changed:
   * LARDER_PATH_CHANGED; the socket) and closes the file it was reading; the caller ends
   * or destroys the request.
   */
  async sendTo(to: Writable): Promise<void> {
    // tarChunks asks for memory once each time it resumes: the chunk of that turn.
    let chunk: Buffer | undefined;
    const frame = storedFrameOf(tarChunks(this.#root, this.#entries, () => chunk as Buffer), this.#size);
    try {
      await sendInTurns(to, (given) => {
        chunk = given;
        const next = frame.next();
        return next.done ? undefined : next.value;
      });
    } finally {
      frame.return(undefined);
    }
  }
}
