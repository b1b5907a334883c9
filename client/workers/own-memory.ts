/**
 * The memory under bytes when it may move to another thread (a transfer, not a copy): not
 * a small Buffer's, which may share Node's pooled slab with others. Packed parts go to the
 * main thread, downloaded and uploaded ones to a worker, by this one rule.
 */
export function ownMemory(bytes: Uint8Array): ArrayBuffer | undefined {
  return bytes.buffer instanceof ArrayBuffer && bytes.buffer.byteLength > Buffer.poolSize ? bytes.buffer : undefined;
}
