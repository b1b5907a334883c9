import type { FastifyInstance } from 'fastify';
import { isLarderError, LarderError } from '../../shared/errors.ts';
import type { RouteDeps } from './deps.ts';

export async function healthRoutes(app: FastifyInstance, { store }: RouteDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Open to anyone (load balancers send no token), so it says whether, never where: the
  // store's path, bucket and endpoint, and the reason, go to the server's log.
  app.get('/readyz', async (request) => {
    try {
      await store.check();
    } catch (err) {
      request.log.error({ err, store: store.description }, 'not ready');
      if (isLarderError(err, 'LARDER_STORE_FULL')) throw new LarderError('LARDER_STORE_FULL', 'the store is full; see the server log');
      throw new LarderError('LARDER_STORE_UNAVAILABLE', 'the store is not ready; see the server log', { cause: err });
    }
    return { status: 'ok' };
  });
}
