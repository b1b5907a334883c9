// Memory of its own: the memory under a buffer that nothing else shares, which may move to
// another thread (a transfer, not a copy) or be freed at once. Not a small Buffer's, which
// may share Node's pooled slab with others.
//
// Memory outside V8's heap that has outlived a young collection is freed only by a full
// one, which V8 starts after every ~25 MB of it: reading a socket makes one fresh buffer
// per read, so a server receiving or a client downloading hundreds of MB ran a full
// collection every few dozen reads. Where a reader knows no one reads a chunk again, it
// frees it at once.

/**
 * The memory under bytes (or under pieces of them, views of one memory: a stored part's)
 * when it is theirs alone to move: packed parts go to the main thread, downloaded and
 * uploaded ones to a worker, by this one rule.
 */
export function ownMemory(bytes: Uint8Array | readonly Uint8Array[]): ArrayBuffer | undefined {
  const memory = (Array.isArray(bytes) ? bytes[0] : (bytes as Uint8Array))?.buffer;
  return memory instanceof ArrayBuffer && memory.byteLength > Buffer.poolSize ? memory : undefined;
}

/**
 * Frees chunks no one reads again, now. Only a chunk that is the whole of memory of its
 * own: a part of a buffer (a chunked body's, or a read that also holds the next
 * response's bytes) may share it with bytes still to be read. Detaching a buffer
 * (ArrayBuffer.prototype.transfer, Node 21+) frees its memory; on Node 20 it waits for the
 * collector as before.
 */
export function freeChunks(chunks: readonly Buffer[]): void {
  for (const chunk of chunks) {
    const memory = ownMemory(chunk) as (ArrayBuffer & { transfer?: (length: number) => ArrayBuffer }) | undefined;
    if (memory && chunk.byteOffset === 0 && chunk.byteLength === memory.byteLength) memory.transfer?.(0);
  }
}
