import type { FastifyInstance } from 'fastify';
import { buildApp, type AppOptions } from '../../server/app.ts';
import { FsStore } from '../../server/storage/fs.ts';
import { tempDir } from './tmp.ts';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  storeDir: string;
}

/** A real larder server on an ephemeral port, with a disk store in a temp folder. */
export async function startServer(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  options: Omit<AppOptions, 'store'> = {},
): Promise<RunningServer> {
  const storeDir = tempDir(t, 'larder-store');
  const app = await buildApp({ ...options, store: await new FsStore(storeDir).init() });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  return { app, url, storeDir };
}
