import { parseArgs } from 'node:util';
import { LarderError } from '../shared/errors.ts';

// Configuration is read once, here, from flags and LARDER_* variables (flags win), and
// handed down as a typed object; nothing below main.ts reads process.env.

export type StoreConfig = { kind: 'fs'; root: string };

export interface ServerConfig {
  host: string;
  port: number;
  store: StoreConfig;
  maxBlobBytes: number;
  token: string | undefined;
  logLevel: string;
}

export const DEFAULT_PORT = 7373;

export const SERVER_USAGE = `larder-server: the larder build cache server

  --host HOST            address to listen on (LARDER_HOST; default 127.0.0.1)
  --port PORT            port (LARDER_PORT; default ${DEFAULT_PORT}; 0 picks a free one)
  --store DIR            where the disk store keeps blobs and entries (LARDER_STORE; default ./larder-data)
  --token TOKEN          require Authorization: Bearer TOKEN (LARDER_TOKEN)
  --max-blob-size BYTES  largest part accepted (LARDER_MAX_BLOB_SIZE; default 4 GiB)
  --log-level LEVEL      fatal|error|warn|info|debug (LARDER_LOG_LEVEL; default info)
  --help`;

export function parseServerConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' {
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      strict: true,
      options: {
        host: { type: 'string' },
        port: { type: 'string' },
        store: { type: 'string' },
        token: { type: 'string' },
        'max-blob-size': { type: 'string' },
        'log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (err) {
    throw new LarderError('LARDER_USAGE', (err as Error).message);
  }
  if (values.help) return 'help';
  const port = integer('--port', values.port ?? env.LARDER_PORT ?? String(DEFAULT_PORT), 0, 65535);
  const maxBlobBytes = integer('--max-blob-size', values['max-blob-size'] ?? env.LARDER_MAX_BLOB_SIZE ?? String(4 * 1024 ** 3), 1, Number.MAX_SAFE_INTEGER);
  const store = values.store ?? env.LARDER_STORE ?? './larder-data';
  if (/^[a-z0-9]+:\/\//i.test(store)) throw new LarderError('LARDER_USAGE', `--store ${store}: only a local folder is supported by this build`);
  const logLevel = values['log-level'] ?? env.LARDER_LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw new LarderError('LARDER_USAGE', `--log-level ${logLevel} is not a level`);
  return {
    host: values.host ?? env.LARDER_HOST ?? '127.0.0.1',
    port,
    store: { kind: 'fs', root: store },
    maxBlobBytes,
    token: values.token ?? (env.LARDER_TOKEN || undefined),
    logLevel,
  };
}

function integer(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new LarderError('LARDER_USAGE', `${flag} ${text}: expected a whole number from ${min} to ${max}`);
  return value;
}
