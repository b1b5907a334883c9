import { Writable } from 'node:stream';

/**
 * A socket that takes each write a millisecond late, as a busy one does, copying it only
 * then: memory a sender fills again before the socket took it shows as other bytes. It
 * keeps which memory each write came in; `fail` may fail the nth write.
 */
export function lateSocket(fail?: (n: number) => Error | undefined): { to: Writable; received: () => Buffer; memories: Set<ArrayBufferLike> } {
  const chunks: Buffer[] = [];
  const memories = new Set<ArrayBufferLike>();
  const to = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      memories.add(chunk.buffer);
      setTimeout(() => {
        chunks.push(Buffer.from(chunk));
        callback(fail?.(chunks.length));
      }, 1);
    },
  });
  to.on('error', () => {}); // as a request's socket error is its sender's to handle
  return { to, received: () => Buffer.concat(chunks.splice(0)), memories };
}
