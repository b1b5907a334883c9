import { fileURLToPath } from 'node:url';
import { byteSize, duration, parseCommandLine, wholeNumber } from '../shared/args.ts';
import { LarderError } from '../shared/errors.ts';

// Configuration is read once, here, from flags and LARDER_* variables (flags win), and
// handed down as a typed object; nothing below main.ts reads process.env.

export type StoreConfig =
  | { kind: 'fs'; root: string }
  | { kind: 's3'; bucket: string; prefix: string; endpoint: string | undefined; region: string; forcePathStyle: boolean; abortUploadsAfterMs: number };

export interface ServerConfig {
  host: string;
  port: number;
  store: StoreConfig;
  maxBlobBytes: number;
  /** a tokens file (hashes and grants) */
  tokensFile: string | undefined;
  /** the tokens file's content itself (LARDER_TOKENS_JSON: a container's secret, no file to mount) */
  tokensJson: string | undefined;
  /** PEM files; both or neither */
  tls: { certFile: string; keyFile: string } | undefined;
  /** a single admin token, for a one-person server */
  token: string | undefined;
  logLevel: string;
  /** the client files served at /client/ */
  clientFiles: string;
  retention: RetentionConfig;
}

export interface RetentionConfig {
  maxBytes: number | undefined;
  maxIdleMs: number | undefined;
  graceMs: number;
  collectEveryMs: number;
}

export const DEFAULT_PORT = 7373;

export const SERVER_USAGE = `larder-server: the larder build cache server

  --host HOST            address to listen on (LARDER_HOST; default 127.0.0.1)
  --port PORT            port (LARDER_PORT; default ${DEFAULT_PORT}; 0 picks a free one)
  --store DIR|s3://BUCKET/PREFIX
                         where blobs and entries live (LARDER_STORE; default ./larder-data)
  --s3-endpoint URL      S3 endpoint: a VPC endpoint or any S3-compatible server (LARDER_S3_ENDPOINT)
  --s3-region REGION     (LARDER_S3_REGION, else AWS_REGION; default us-east-1)
  --s3-force-path-style  path-style URLs, for most S3-compatible servers (LARDER_S3_FORCE_PATH_STYLE=1)
  --s3-abort-uploads-after SECONDS
                         abort multipart uploads under the prefix older than this, left by a server
                         that crashed mid-upload; at start and hourly (LARDER_S3_ABORT_UPLOADS_AFTER;
                         default 86400)
                         credentials come from the standard AWS chain (env, profile, instance role)
  --tokens FILE          tokens and their grants, as hashes (LARDER_TOKENS_FILE, or the
                         file's content in LARDER_TOKENS_JSON); see docs/security.md
  --token TOKEN          one admin token, for a one-person server (LARDER_TOKEN)
                         without either, the server is open and listens on loopback only
  --tls-cert FILE --tls-key FILE
                         serve HTTPS with this PEM certificate and key (LARDER_TLS_CERT, LARDER_TLS_KEY)
  --max-blob-size BYTES  largest part accepted (LARDER_MAX_BLOB_SIZE; default 4 GiB)
  --max-size SIZE        cap on the whole store, e.g. 200G: least recently restored entries are
                         evicted past it (LARDER_MAX_SIZE; default none). Per-namespace quotas go in
                         the tokens file ("quotas": {"web": "50G"})
  --max-idle DURATION    evict entries not restored for this long, e.g. 30d (LARDER_MAX_IDLE; default none)
  --gc-grace DURATION    an unreferenced blob is deleted this long after the collector finds it, so
                         saves and restores in flight finish first (LARDER_GC_GRACE; default 1h)
  --collect-every DURATION
                         how often the collector runs; one server at a time (LARDER_COLLECT_EVERY;
                         default 1h). See docs/server.md, Retention
  --client-files DIR     the client package and executables to serve at /client/ (LARDER_CLIENT_FILES;
                         default: dist/ beside the server, where npm run build:client puts them)
  --log-level LEVEL      fatal|error|warn|info|debug (LARDER_LOG_LEVEL; default info)
  --version              print the version
  --help`;

export function parseServerConfig(argv: string[], env: NodeJS.ProcessEnv): ServerConfig | 'help' | 'version' {
  const { values } = parseCommandLine({
    args: argv,
    strict: true,
    options: {
      host: { type: 'string' },
      port: { type: 'string' },
      store: { type: 'string' },
      token: { type: 'string' },
      tokens: { type: 'string' },
      'tls-cert': { type: 'string' },
      'tls-key': { type: 'string' },
      'max-blob-size': { type: 'string' },
      'log-level': { type: 'string' },
      'client-files': { type: 'string' },
      's3-endpoint': { type: 'string' },
      's3-region': { type: 'string' },
      's3-force-path-style': { type: 'boolean' },
      's3-abort-uploads-after': { type: 'string' },
      'max-size': { type: 'string' },
      'max-idle': { type: 'string' },
      'gc-grace': { type: 'string' },
      'collect-every': { type: 'string' },
      help: { type: 'boolean' },
      version: { type: 'boolean' },
    },
  });
  if (values.version) return 'version';
  if (values.help) return 'help';
  const port = wholeNumber('--port', values.port ?? env.LARDER_PORT ?? String(DEFAULT_PORT), 0, 65535);
  const maxBlobBytes = wholeNumber('--max-blob-size', values['max-blob-size'] ?? env.LARDER_MAX_BLOB_SIZE ?? String(4 * 1024 ** 3), 1, Number.MAX_SAFE_INTEGER);
  const storeText = values.store ?? env.LARDER_STORE ?? './larder-data';
  const store: StoreConfig = storeText.startsWith('s3://')
    ? {
        kind: 's3',
        ...parseS3Url(storeText),
        endpoint: values['s3-endpoint'] ?? (env.LARDER_S3_ENDPOINT || undefined),
        region: values['s3-region'] ?? (env.LARDER_S3_REGION || env.AWS_REGION || 'us-east-1'),
        forcePathStyle: values['s3-force-path-style'] ?? ['1', 'true'].includes(env.LARDER_S3_FORCE_PATH_STYLE ?? ''),
        abortUploadsAfterMs: wholeNumber('--s3-abort-uploads-after', values['s3-abort-uploads-after'] ?? env.LARDER_S3_ABORT_UPLOADS_AFTER ?? '86400', 1, 365 * 86_400) * 1000,
      }
    : { kind: 'fs', root: storeText };
  if (/^[a-z0-9]+:\/\//i.test(storeText) && store.kind === 'fs') throw new LarderError('LARDER_USAGE', `--store ${storeText}: give a folder or s3://bucket/prefix`);
  const logLevel = values['log-level'] ?? env.LARDER_LOG_LEVEL ?? 'info';
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(logLevel)) throw new LarderError('LARDER_USAGE', `--log-level ${logLevel} is not a level`);
  const host = values.host ?? env.LARDER_HOST ?? '127.0.0.1';
  const tokensFile = values.tokens ?? (env.LARDER_TOKENS_FILE || undefined);
  const token = values.token ?? (env.LARDER_TOKEN || undefined);
  const tokensJson = tokensFile ? undefined : env.LARDER_TOKENS_JSON || undefined;
  if (!tokensFile && !tokensJson && !token && !isLoopback(host)) {
    throw new LarderError('LARDER_USAGE', `refusing to listen on ${host} without tokens: anyone who can reach it could read and poison the cache; give --tokens FILE (or listen on 127.0.0.1)`);
  }
  const certFile = values['tls-cert'] ?? (env.LARDER_TLS_CERT || undefined);
  const keyFile = values['tls-key'] ?? (env.LARDER_TLS_KEY || undefined);
  if (Boolean(certFile) !== Boolean(keyFile)) throw new LarderError('LARDER_USAGE', 'TLS needs both --tls-cert and --tls-key');
  const tls = certFile && keyFile ? { certFile, keyFile } : undefined;
  const clientFiles = values['client-files'] ?? (env.LARDER_CLIENT_FILES || fileURLToPath(new URL('../dist/', import.meta.url)));
  const option = (flag: string, variable: string): string | undefined => (values[flag as keyof typeof values] as string | undefined) ?? (env[variable] || undefined);
  const maxSize = option('max-size', 'LARDER_MAX_SIZE');
  const maxIdle = option('max-idle', 'LARDER_MAX_IDLE');
  const retention: RetentionConfig = {
    maxBytes: maxSize === undefined ? undefined : byteSize('--max-size', maxSize),
    maxIdleMs: maxIdle === undefined ? undefined : duration('--max-idle', maxIdle),
    graceMs: duration('--gc-grace', option('gc-grace', 'LARDER_GC_GRACE') ?? '1h'),
    collectEveryMs: duration('--collect-every', option('collect-every', 'LARDER_COLLECT_EVERY') ?? '1h'),
  };
  if (retention.collectEveryMs < 60_000) throw new LarderError('LARDER_USAGE', '--collect-every is at least 1m: each run reads the whole store');
  return { host, port, store, maxBlobBytes, tokensFile, tokensJson, token, tls, logLevel, clientFiles, retention };
}

/** s3://bucket/some/prefix → bucket and a prefix that is '' or ends in '/'. */
export function parseS3Url(url: string): { bucket: string; prefix: string } {
  const match = /^s3:\/\/([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])(?:\/(.*))?$/.exec(url);
  if (!match?.[1]) throw new LarderError('LARDER_USAGE', `--store ${url}: expected s3://bucket or s3://bucket/prefix`);
  const prefix = (match[2] ?? '').replace(/^\/+|\/+$/g, '');
  return { bucket: match[1], prefix: prefix === '' ? '' : `${prefix}/` };
}

export function isLoopback(host: string): boolean {
  return host === 'localhost' || host === '::1' || /^127\.\d+\.\d+\.\d+$/.test(host);
}
