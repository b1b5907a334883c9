import { readFileSync } from 'node:fs';
import { fromSystemError, isLarderError, LarderError } from '../shared/errors.ts';
import { checkTokensFile, quotaBytes, TokenTable, type TokensFile } from './auth/access.ts';
import { Retention } from './retention/retention.ts';
import { buildApp } from './app.ts';
import { parseServerConfig, SERVER_USAGE, type ServerConfig } from './config.ts';
import { LARDER_VERSION } from '../shared/version.ts';
import { openStore } from './storage/open.ts';
import type { Store } from './storage/store.ts';
import type { FastifyInstance } from 'fastify';

// The only file that listens. Everything it needs is parsed here, once.

async function main(): Promise<void> {
  const config = parseServerConfig(process.argv.slice(2), process.env);
  if (config === 'help') {
    console.log(SERVER_USAGE);
    return;
  }
  if (config === 'version') {
    console.log(`larder-server ${LARDER_VERSION}`);
    return;
  }
  const { tokens, quotas } = loadTokens(config);
  const store = await openStore(config.store);
  const { maxBytes, maxIdleMs, graceMs, collectEveryMs } = config.retention;
  const retention = new Retention(store, { caps: { maxBytes, maxIdleMs, quotas }, graceMs, collectEveryMs });
  const tls = config.tls && { cert: readConfigFile(config.tls.certFile, '--tls-cert'), key: readConfigFile(config.tls.keyFile, '--tls-key') };
  const app = await buildApp({ store, tokens, tls, limits: { maxBlobBytes: config.maxBlobBytes }, logger: { level: config.logLevel }, clientFiles: config.clientFiles, retention });
  const address = await app.listen({ host: config.host, port: config.port });
  sweepNowAndHourly(app, store);
  retention.start({ info: (msg) => app.log.info(msg), error: (msg) => app.log.error(msg) });
  const access = tokens ? 'bearer tokens required' : 'no tokens: OPEN to anyone who can reach it, so loopback only';
  console.error(`larder-server listening on ${address} (${store.description}; ${access})`);
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.once(signal, () => {
      // Graceful: stop accepting, let in-flight uploads finish, then exit.
      void app.close().then(() => process.exit(0));
    });
  }
}

/** The store's housekeeping, at start and every hour; a failure is logged, never fatal. */
function sweepNowAndHourly(app: FastifyInstance, store: Store): void {
  if (!store.sweep) return;
  const sweep = (): void => {
    store.sweep?.().then(
      (done) => done && app.log.warn(`store sweep: ${done}`),
      (err: unknown) => app.log.error({ err }, 'store sweep failed'),
    );
  };
  sweep();
  setInterval(sweep, 3_600_000).unref();
}

function readConfigFile(path: string, flag: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const hint = code === 'ENOENT' && flag === '--tokens' ? ': no such file; write one (docs/tokens.example.json shows the format, the hashes are SHA-256 of each token), or leave --tokens out to serve loopback only, open' : code === 'ENOENT' ? ': no such file' : '';
    throw new LarderError('LARDER_USAGE', `${flag} ${path}: ${code ?? (err as Error).message}${hint}`);
  }
}

/** The tokens file and --token, merged into one table (undefined when neither is given), and the file's quotas. */
function loadTokens(config: ServerConfig): { tokens: TokenTable | undefined; quotas: Record<string, number> | undefined } {
  if (!config.tokensFile && !config.tokensJson && !config.token) return { tokens: undefined, quotas: undefined };
  let file: TokensFile = { tokens: [] };
  const source = config.tokensFile ? `--tokens ${config.tokensFile}` : 'LARDER_TOKENS_JSON';
  if (config.tokensFile || config.tokensJson) {
    try {
      file = checkTokensFile(JSON.parse(config.tokensFile ? readConfigFile(config.tokensFile, '--tokens').toString('utf8') : (config.tokensJson as string)));
    } catch (err) {
      if (isLarderError(err)) throw err;
      throw new LarderError('LARDER_USAGE', `${source}: ${(err as Error).message}`);
    }
  }
  if (config.token) file.tokens.push({ name: 'admin (--token)', sha256: TokenTable.hash(config.token), admin: true });
  const quotas = file.quotas && quotaBytes(file.quotas, (message) => {
    throw new LarderError('LARDER_USAGE', `tokens file: ${message}`);
  });
  return { tokens: new TokenTable(file), quotas };
}

main().catch((err: unknown) => {
  const known = isLarderError(err) ? err : (listenFailure(err) ?? fromSystemError(err));
  console.error(`larder-server: ${known ? `${known.code}: ${known.message}` : (err as Error).stack}`);
  process.exit(known?.code === 'LARDER_USAGE' ? 2 : 1);
});

/** A port that is taken or not ours to take: the operator's to fix, said in one line. */
function listenFailure(err: unknown): LarderError | undefined {
  const e = err as NodeJS.ErrnoException & { address?: string; port?: number };
  if (e?.code === 'EADDRINUSE') return new LarderError('LARDER_USAGE', `${e.address}:${e.port} is in use (EADDRINUSE); stop what listens there or choose another --port`);
  if (e?.code === 'EACCES' && e.syscall === 'listen') return new LarderError('LARDER_USAGE', `may not listen on ${e.address}:${e.port} (EACCES); ports below 1024 need privileges: choose another --port`);
  return undefined;
}
