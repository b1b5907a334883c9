// Memory outside V8's heap that has outlived a young collection is freed only by a full
// one, which V8 starts after every ~25 MB of it: reading a socket makes one fresh buffer
// per read, so a server receiving or a client downloading hundreds of MB ran a full
// collection every few dozen reads. Where a reader knows no one reads a chunk again, it
// frees it at once.

/**
 * Frees chunks no one reads again, now. Only a chunk that is its whole buffer: a part of
 * one (a chunked body's, or a read that also holds the next response's bytes) may share it
 * with bytes still to be read; nor Node's pool of small buffers, which others share.
 * Detaching a buffer (ArrayBuffer.prototype.transfer, Node 21+) frees its memory; on Node
 * 20 it waits for the collector as before.
 */
export function freeChunks(chunks: readonly Buffer[]): void {
  for (const chunk of chunks) {
    const memory = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
    if (chunk.byteOffset === 0 && chunk.byteLength === memory.byteLength && memory.byteLength > Buffer.poolSize) memory.transfer?.(0);
  }
}
