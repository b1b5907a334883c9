import type { FastifyInstance } from 'fastify';
import { isLarderError, LarderError } from '../../shared/errors.ts';
import type { RouteDeps } from './deps.ts';

export async function healthRoutes(app: FastifyInstance, { store }: RouteDeps): Promise<void> {
  app.get('/healthz', async () => ({ status: 'ok' }));

  app.get('/readyz', async () => {
    try {
      await store.check();
    } catch (err) {
      if (isLarderError(err, 'LARDER_STORE_FULL')) throw err;
      throw new LarderError('LARDER_STORE_UNAVAILABLE', `store not ready: ${(err as Error).message}`, { cause: err });
    }
    return { status: 'ok', store: store.description };
  });
}
