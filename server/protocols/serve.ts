import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { parseRange } from '../range.ts';
import { sendBlob } from '../routes/send-blob.ts';
import type { KeyedCache } from './keyed.ts';
import { bodyStream } from './spool.ts';

// The GET, HEAD and PUT every keyed protocol has, over KeyedCache; each protocol's module
// adds its paths, its namespace rule and its own answers around them.

/** Streams the artifact (a single Range honoured), or answers 404 with the protocol's body. */
export async function sendArtifact(cache: KeyedCache, request: FastifyRequest, reply: FastifyReply, ns: string, key: string, notFound: () => unknown, headers: (meta: Record<string, string>) => Record<string, string> = () => ({})): Promise<unknown> {
  const artifact = await cache.get(request.access, ns, key, (size) => parseRange(request.headers.range, size));
  if (!artifact) return reply.code(404).send(notFound());
  const { range } = artifact;
  if (range) reply.code(206).header('content-range', `bytes ${range.start}-${range.end}/${artifact.size}`);
  const length = range ? range.end - range.start + 1 : artifact.size;
  return sendBlob(reply.type('application/octet-stream').headers(headers(artifact.meta)).header('content-length', length), artifact.body);
}

export async function headArtifact(cache: KeyedCache, request: FastifyRequest, reply: FastifyReply, ns: string, key: string): Promise<unknown> {
  const size = await cache.has(request.access, ns, key);
  if (size === undefined) return reply.code(404).send();
  return reply.header('content-length', size).send();
}

/** Where a request's artifact is: which cache (Bazel keeps two), the namespace, the key, and what its upload must hash to. */
export interface Address {
  cache: KeyedCache;
  ns: string;
  key: string;
  contentDigest?: string;
}

/**
 * GET, HEAD and PUT of one artifact at a path that names its namespace and key (Bazel,
 * Gradle, ccache); a miss is a bare 404, a stored upload answers putStatus.
 */
export function artifactRoutes(app: FastifyInstance, path: string, address: (request: FastifyRequest) => Address, putStatus: number): void {
  app.get(path, { exposeHeadRoute: false }, async (request, reply) => {
    const { cache, ns, key } = address(request);
    return sendArtifact(cache, request, reply, ns, key, () => '');
  });
  app.head(path, async (request, reply) => {
    const { cache, ns, key } = address(request);
    return headArtifact(cache, request, reply, ns, key);
  });
  app.put(path, async (request, reply) => {
    const { cache, ns, key, contentDigest } = address(request);
    await receiveArtifact(cache, request, ns, key, contentDigest === undefined ? {} : { contentDigest });
    return reply.code(putStatus).send();
  });
}

export function receiveArtifact(cache: KeyedCache, request: FastifyRequest, ns: string, key: string, options: { meta?: Record<string, string>; contentDigest?: string } = {}): Promise<'created' | 'exists'> {
  return cache.put(request.access, ns, key, bodyStream(request), options);
}
