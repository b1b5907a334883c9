import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

// An upload's body chunks are the socket's read buffers, one fresh buffer per read, which
// nothing reads again once they are written. Left to the garbage collector, each ~25 MB of
// them brought a full collection (--trace-gc: 16 mark-compacts for a 400 MB upload); the
// disk store frees them as soon as they are written instead, which halved the server's
// user CPU per GB received. Only a body marked here is freed: a stream of buffers someone
// else still holds (a blob read back from the store, a test's Buffer) must never be.

const DISPOSABLE = Symbol('larder.disposableChunks');

/**
 * Marks a body whose chunks no one reads once the store has them: a request's read from a
 * real socket. Not one injected without a socket (Fastify's inject, in tests), whose chunks
 * are its caller's own buffers.
 */
export function disposableChunks<T extends Readable>(body: T, from: unknown): T {
  if (from instanceof Socket) (body as T & { [DISPOSABLE]?: true })[DISPOSABLE] = true;
  return body;
}

export function hasDisposableChunks(body: Readable): boolean {
  return (body as Readable & { [DISPOSABLE]?: true })[DISPOSABLE] === true;
}

/**
 * Frees written chunks of a marked body now. Only a chunk that spans its whole buffer: a
 * part of one (a chunked body's, or a read that also holds the next request's bytes) may
 * share it with bytes still to be read. Detaching a buffer (ArrayBuffer.prototype.transfer,
 * Node 21+) frees its memory at once; on Node 20 it waits for the collector as before.
 */
export function freeChunks(chunks: readonly Buffer[]): void {
  for (const chunk of chunks) {
    const memory = chunk.buffer as ArrayBuffer & { transfer?: (length: number) => ArrayBuffer };
    if (chunk.byteOffset === 0 && chunk.byteLength === memory.byteLength) memory.transfer?.(0);
  }
}

/** A pass-through (a verifying or hashing transform) of a marked body hands on the same chunks: it is marked too. */
export function likewise<T extends Readable>(from: Readable, to: T): T {
  if (hasDisposableChunks(from)) (to as T & { [DISPOSABLE]?: true })[DISPOSABLE] = true;
  return to;
}
