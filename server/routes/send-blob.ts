import type { OutgoingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import type { FastifyReply } from 'fastify';
import { FileBody } from '../../shared/file-body.ts';

/**
 * Sends a blob's bytes with the headers set on the reply: a disk store's file from reused
 * memory (FileBody.sendTo), any other stream as Fastify sends it. A send that fails after
 * the headers ends the connection: the client gets fewer bytes than Content-Length says.
 */
export async function sendBlob(reply: FastifyReply, body: Readable): Promise<unknown> {
  if (!(body instanceof FileBody)) return reply.send(body);
  reply.hijack(); // onResponse hooks (metrics, the request's log line) still run
  const res = reply.raw;
  res.writeHead(reply.statusCode, reply.getHeaders() as OutgoingHttpHeaders);
  try {
    await body.sendTo(res);
    res.end();
  } catch (err) {
    reply.log.info({ err: (err as Error).message }, 'blob download ended early');
    res.destroy();
  }
  return reply;
}
