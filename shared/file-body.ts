import type { FileHandle } from 'node:fs/promises';
import { Readable, type Writable } from 'node:stream';
import { sendInTurns, TURN_BYTES } from './send-in-turns.ts';

// A file's bytes (or a range of them): a blob as the disk store hands it out, or a part
// too big for memory as a save uploads it from its spill folder. Read as a stream, each
// chunk is memory of its own, which any consumer may keep. Sent with sendTo, the bytes go
// through two buffers read into by turns, each used again once the socket has taken what
// was written from it (shared/send-in-turns.ts). Every fresh buffer is memory outside
// V8's heap, and each ~25 MB of it brought a full garbage collection: sending 8.9 MB
// blobs took the server 0.17 CPU-s per 267 MB from reused buffers, 0.33 from fresh ones;
// a save's upload of next.js's 140 MB binary from a file stream left ~30 MB of them
// waiting at its peak (heaptrack).

/** Files are read in chunks this big: 64 KiB reads cost a syscall and a trip through the event loop 16 times as often (the 140 MB binary of next.js took ~0.1 s longer to save). */
const CHUNK_BYTES = TURN_BYTES;

export class FileBody extends Readable {
  readonly #file: FileHandle;
  #position: number;
  readonly #end: number;

  /** The bytes from start up to end (exclusive; the file's end if not given); the body owns the handle and closes it. */
  constructor(file: FileHandle, start = 0, end = Number.POSITIVE_INFINITY) {
    super({ highWaterMark: CHUNK_BYTES });
    this.#file = file;
    this.#position = start;
    this.#end = end;
  }

  override _read(): void {
    const length = Math.min(CHUNK_BYTES, this.#end - this.#position);
    if (length <= 0) return void this.push(null);
    const buffer = Buffer.allocUnsafeSlow(length);
    this.#file.read(buffer, 0, length, this.#position).then(({ bytesRead }) => {
      if (bytesRead === 0) return void (this.#end === Number.POSITIVE_INFINITY ? this.push(null) : this.destroy(shortFile()));
      this.#position += bytesRead;
      this.push(bytesRead === length ? buffer : buffer.subarray(0, bytesRead));
    }, (err: Error) => this.destroy(err));
  }

  override _destroy(err: Error | null, callback: (err?: Error | null) => void): void {
    this.#file.close().then(() => callback(err), () => callback(err));
  }

  /**
   * Writes the bytes to `to` from two chunks read into by turns (shared/send-in-turns.ts),
   * so at most two chunks are in flight. On a failure on either side it rejects and closes
   * the file; the caller ends the response (a short body, which a client's length check
   * refuses).
   */
  async sendTo(to: Writable): Promise<void> {
    try {
      await sendInTurns(to, async (chunk) => {
        const length = Math.min(chunk.length, this.#end - this.#position);
        if (length <= 0) return undefined;
        const { bytesRead } = await this.#file.read(chunk, 0, length, this.#position);
        if (bytesRead === 0 && this.#end === Number.POSITIVE_INFINITY) return undefined;
        if (bytesRead === 0) throw shortFile();
        this.#position += bytesRead;
        return [chunk.subarray(0, bytesRead)];
      });
    } finally {
      this.destroy();
    }
  }
}

function shortFile(): Error {
  return new Error('the blob file is shorter than its size said (changed while it was read)');
}
