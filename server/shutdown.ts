import type { FastifyInstance } from 'fastify';

/**
 * Graceful close that really ends. Node's server.close() closes idle keep-alive
 * connections once, but a connection whose response has only just been sent does not
 * count as idle yet and would then stay open until its keep-alive timeout (65 s). So
 * while closing we sweep idle connections every 100 ms (requests in flight, such as
 * uploads, still finish) and cut whatever is left after the grace period.
 */
export function closeConnectionsOnShutdown(app: FastifyInstance, graceMs: number): void {
  app.addHook('preClose', (done) => {
    const server = app.server;
    const sweep = setInterval(() => server.closeIdleConnections(), 100).unref();
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs).unref();
    server.once('close', () => {
      clearInterval(sweep);
      clearTimeout(deadline);
    });
    done();
  });
}
