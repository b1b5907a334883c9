import type { FastifyError, FastifyInstance } from 'fastify';
import { type ErrorBody, type ErrorCode, LarderError } from '../shared/errors.ts';

// Every failure leaves the server as { code, message } with the catalogue's status.

const FASTIFY_CODES: Record<string, ErrorCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'LARDER_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_BODY_TOO_LARGE: 'LARDER_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'LARDER_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'LARDER_BAD_REQUEST',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'LARDER_BAD_REQUEST',
};

export function toLarderError(err: FastifyError | Error): LarderError {
  if (err instanceof LarderError) return err;
  const fastifyError = err as FastifyError;
  if (fastifyError.validation) return new LarderError('LARDER_BAD_REQUEST', err.message);
  const code = fastifyError.code ? FASTIFY_CODES[fastifyError.code] : undefined;
  if (code) return new LarderError(code, err.message);
  if (fastifyError.statusCode === 400 || (err as NodeJS.ErrnoException).code === 'ECONNRESET') {
    return new LarderError('LARDER_INCOMPLETE_BODY', err.message);
  }
  return new LarderError('LARDER_INTERNAL', 'internal error', { cause: err });
}

export function installErrorHandlers(app: FastifyInstance, onServerError: (code: string) => void = () => {}): void {
  app.setErrorHandler((err: FastifyError, request, reply) => {
    const larderError = toLarderError(err);
    if (larderError.status >= 500) {
      request.log.error({ err }, larderError.message);
      onServerError(larderError.code);
    }
    const body: ErrorBody = larderError.toJSON();
    // A body left unread (a refused or failed upload) would otherwise be read to its end,
    // or hold the client's connection until a timeout: answer, then close.
    if (!request.raw.complete) reply.header('connection', 'close');
    return reply.code(larderError.status).send(body);
  });
  app.setNotFoundHandler((request, reply) => {
    const body: ErrorBody = { code: 'LARDER_NOT_FOUND', message: `no route ${request.method} ${request.url.split('?')[0]}` };
    return reply.code(404).send(body);
  });
}
