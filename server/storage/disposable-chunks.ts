import { Socket } from 'node:net';
import type { Readable } from 'node:stream';

// An upload's body chunks are the socket's read buffers, one fresh buffer per read, which
// nothing reads again once they are written. Left to the garbage collector, each ~25 MB of
// them brought a full collection (--trace-gc: 16 mark-compacts for a 400 MB upload); the
// disk store frees them as soon as they are written instead (shared/own-memory.ts),
// which halved the server's user CPU per GB received. Only a body marked here is freed: a
// stream of buffers someone else still holds (a blob read back from the store, a test's
// Buffer) must never be.

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

/** A pass-through (a verifying or hashing transform) of a marked body hands on the same chunks: it is marked too. */
export function likewise<T extends Readable>(from: Readable, to: T): T {
  if (hasDisposableChunks(from)) (to as T & { [DISPOSABLE]?: true })[DISPOSABLE] = true;
  return to;
}
