import type { FastifyReply, FastifyRequest } from 'fastify';
import { parseRange } from '../range.ts';
import type { KeyedCache } from './keyed.ts';
import { bodyStream } from './spool.ts';

// The GET, HEAD and PUT every keyed protocol has, over KeyedCache; each protocol's module
// adds its paths, its namespace rule and its own answers around them.

/** Streams the artifact (a single Range honoured), or answers 404 with the protocol's body. */
export async function sendArtifact(cache: KeyedCache, request: FastifyRequest, reply: FastifyReply, ns: string, key: string, notFound: () => unknown, headers: (meta: Record<string, string>) => Record<string, string> = () => ({})): Promise<unknown> {
  const artifact = await cache.get(request.access, ns, key, (size) => parseRange(request.headers.range, size));
  if (!artifact) return reply.code(404).send(notFound());
  const range = parseRange(request.headers.range, artifact.size);
  if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${artifact.size}`);
  const length = range ? range.end - range.start + 1 : artifact.size;
  return reply.type('application/octet-stream').headers(headers(artifact.meta)).header('content-length', length).send(artifact.body);
}

export async function headArtifact(cache: KeyedCache, request: FastifyRequest, reply: FastifyReply, ns: string, key: string): Promise<unknown> {
  const size = await cache.has(request.access, ns, key);
  if (size === undefined) return reply.code(404).send();
  return reply.header('content-length', size).send();
}

export function receiveArtifact(cache: KeyedCache, request: FastifyRequest, ns: string, key: string, options: { meta?: Record<string, string>; contentDigest?: string } = {}): Promise<'created' | 'exists'> {
  return cache.put(request.access, ns, key, bodyStream(request), options);
}
