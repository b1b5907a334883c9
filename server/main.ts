import { isLarderError } from '../shared/errors.ts';
import { buildApp } from './app.ts';
import { parseServerConfig, SERVER_USAGE } from './config.ts';
import { openStore } from './storage/open.ts';

// The only file that listens. Everything it needs is parsed here, once.

async function main(): Promise<void> {
  const config = parseServerConfig(process.argv.slice(2), process.env);
  if (config === 'help') {
    console.log(SERVER_USAGE);
    return;
  }
  const store = await openStore(config.store);
  const app = await buildApp({ store, token: config.token, limits: { maxBlobBytes: config.maxBlobBytes }, logger: { level: config.logLevel } });
  const address = await app.listen({ host: config.host, port: config.port });
  const access = config.token ? 'bearer token required' : 'no token: open to anyone who can reach it';
  console.error(`larder-server listening on ${address} (${store.description}; ${access})`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // Graceful: stop accepting, let in-flight uploads finish, then exit.
      void app.close().then(() => process.exit(0));
    });
  }
}

main().catch((err: unknown) => {
  console.error(`larder-server: ${isLarderError(err) ? `${err.code}: ${err.message}` : (err as Error).stack}`);
  process.exit(isLarderError(err, 'LARDER_USAGE') ? 2 : 1);
});
