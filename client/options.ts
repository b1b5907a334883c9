import { homedir } from 'node:os';
import { join } from 'node:path';
import { byteSize, parseCommandLine, wholeNumber } from '../shared/args.ts';
import { EMF_NAMESPACE } from '../shared/emf.ts';
import { LarderError } from '../shared/errors.ts';
import { checkKeyPrefix, checkNamespace } from '../shared/wire/names.ts';
import { presetNamed } from './presets.ts';
import type { OidcSource } from './transport/ci-token.ts';

// The client's configuration, parsed once from flags and LARDER_* variables (flags win).
// A preset fills in paths, key and restore keys; explicit flags replace its choices.

export interface ClientOptions {
  server: string;
  namespace: string;
  token: string | undefined;
  keyTemplate: string | undefined;
  restoreKeyTemplates: string[];
  /** the trust tier's prefix, put before the key and every restore key: main-, pr-7- */
  keyPrefix: string;
  /** a trusted tier to fall back to (main-): the same key there counts as an exact hit, then its restore keys */
  fallbackPrefix: string | undefined;
  /** restore only an exact hit: --exact, or `larder run` of a command that rebuilds the folders from scratch */
  exact: boolean;
  /** why exact was chosen for the user, said once in the output */
  exactBecause: string | undefined;
  /** restore entries an untrusted token published (the server passes them over otherwise) */
  allowUntrusted: boolean;
  /** use the job's OIDC token (GitHub Actions) for this audience instead of a static token */
  oidc: OidcSource | undefined;
  paths: string[];
  strict: boolean;
  json: boolean;
  explain: boolean;
  reportFile: string | undefined;
  timeoutMs: number;
  stallTimeoutMs: number;
  /** a request with no byte from the server for this long fails */
  responseTimeoutMs: number;
  /** a connection not made within this long fails */
  connectTimeoutMs: number;
  concurrency: number;
  level: number;
  cwd: string;
  home: string;
  /** where larder keeps what it knows of folders, and the local part cache: LARDER_CACHE_DIR */
  cacheDir: string;
  /** keep parts and manifests on this machine (LARDER_LOCAL_CACHE; on unless CI=true) */
  localCache: boolean;
  /** the local part cache's cap in bytes (LARDER_LOCAL_CACHE_MAX) */
  localCacheMaxBytes: number;
  githubOutput: string | undefined;
  githubStepSummary: string | undefined;
  /** print a CloudWatch Embedded Metric Format line, in this CloudWatch namespace */
  emfNamespace: string | undefined;
  /** `larder run -- CMD…`: the command */
  command: string[];
  /** `larder ls [PREFIX]`, `larder delete KEY`: the word after the command */
  argument: string | undefined;
}

export const DEFAULT_SERVER = 'http://127.0.0.1:7373';

export const CLIENT_USAGE = `larder: save and restore build caches (node_modules, .venv, ~/.m2, any folder)

usage:
  larder restore  --preset NAME | --key TEMPLATE --path P [--restore-key PREFIX]…
  larder save     --preset NAME | --key TEMPLATE --path P…
  larder run      --preset NAME | --key … --path … -- COMMAND [ARGS…]
                  restore; run COMMAND unless the hit was exact; save if it succeeded
  larder key      --preset NAME | --key TEMPLATE [--explain]
  larder ls       [PREFIX]     entries (newest first): key, age, files, size
  larder delete   KEY          remove an entry (a token that may write that key)
  larder cache    info | prune [--max-size SIZE]
                               the local part cache: what it holds; evict down to its cap

options:
  --version             print larder's version
  --server URL          larder server (LARDER_SERVER; default ${DEFAULT_SERVER})
  --namespace NS, -n    cache namespace, usually the repository (LARDER_NAMESPACE; default "default")
  --token TOKEN         bearer token (LARDER_TOKEN)
  --oidc-audience AUD   use the job's GitHub Actions OIDC token for this audience instead
                        (LARDER_OIDC_AUDIENCE; needs \`permissions: id-token: write\`)
  --preset NAME         npm | pip | maven: paths, key and restore key in one
  --key TEMPLATE        e.g. npm-{os}-{arch}-node{node}-{hash:package-lock.json}
                        placeholders: {os} {arch} {libc} {node} {python} {java} {root}
                        {env:NAME} {hash:GLOB,GLOB…}
  --restore-key PREFIX  fall back to the newest entry whose key starts with PREFIX (repeatable)
  --key-prefix PREFIX   a trust tier's prefix before the key and each restore key: main-, pr-7-
                        (LARDER_KEY_PREFIX)
  --fallback-prefix PREFIX
                        then try the trusted tier: the same key under PREFIX is an exact hit,
                        then its restore keys (LARDER_FALLBACK_PREFIX; e.g. main-)
  --exact               restore only an exact hit, ignoring restore keys (for installs such as
                        npm ci that delete the folder first; larder run does this by itself)
  --allow-untrusted     restore entries that a token marked untrusted published (any job holding
                        it could have written them; passed over otherwise) (LARDER_ALLOW_UNTRUSTED=1)
  --path PATH           folder to save or restore (repeatable; ~ is your home)
  --strict              exit non-zero when the cache fails (default: warn and go on)
  --json                print the outcome as JSON on stdout
  --report FILE         write the outcome as JSON to FILE
  --timeout SECONDS     give up on the cache after this long (LARDER_TIMEOUT; default 600)
  --stall-timeout SECONDS
                        give up when nothing moves for this long (LARDER_STALL_TIMEOUT; default 120)
  --response-timeout SECONDS
                        a request the server does not answer for this long fails; a server that
                        never answered is not asked again (LARDER_RESPONSE_TIMEOUT; default 8)
  --connect-timeout SECONDS
                        a connection not made within this long fails (LARDER_CONNECT_TIMEOUT; default 3)
  --max-size SIZE       with cache prune: evict down to SIZE (bytes, or 500M, 2G; 0 empties it)
  --concurrency N       parts in flight at once (default 4)
  --level N             zstd level for save, 1-19 (default 3)
  --explain             with key: show every input and its value
  --emf                 print a CloudWatch Embedded Metric Format line (namespace: --emf-namespace,
                        LARDER_EMF_NAMESPACE; default Larder)`;

function optionalPrefix(prefix: string | undefined): string | undefined {
  return prefix === undefined ? undefined : checkKeyPrefix(prefix);
}

function oidcSource(audience: string | undefined, env: NodeJS.ProcessEnv): OidcSource | undefined {
  return audience === undefined ? undefined : { audience, requestUrl: env.ACTIONS_ID_TOKEN_REQUEST_URL || undefined, requestToken: env.ACTIONS_ID_TOKEN_REQUEST_TOKEN || undefined };
}

/** LARDER_CACHE_DIR, else $XDG_CACHE_HOME/larder, else ~/.cache/larder. */
export function cacheDirOf(env: NodeJS.ProcessEnv): string {
  return env.LARDER_CACHE_DIR || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'larder');
}

export function parseClientArgs(argv: string[], env: NodeJS.ProcessEnv, cwd: string): { command: string; options: ClientOptions } | 'help' | 'version' {
  const dashDash = argv.indexOf('--');
  const own = dashDash < 0 ? argv : argv.slice(0, dashDash);
  const command = dashDash < 0 ? [] : argv.slice(dashDash + 1);
  const parsed = parseCommandLine({
    args: own,
    strict: true,
    allowPositionals: true,
    options: {
      server: { type: 'string' },
      namespace: { type: 'string', short: 'n' },
      token: { type: 'string' },
      preset: { type: 'string' },
      key: { type: 'string' },
      'restore-key': { type: 'string', multiple: true },
      'key-prefix': { type: 'string' },
      'fallback-prefix': { type: 'string' },
      exact: { type: 'boolean' },
      'allow-untrusted': { type: 'boolean' },
      'oidc-audience': { type: 'string' },
      path: { type: 'string', multiple: true },
      strict: { type: 'boolean' },
      json: { type: 'boolean' },
      explain: { type: 'boolean' },
    emf: { type: 'boolean' },
    'emf-namespace': { type: 'string' },
      report: { type: 'string' },
      timeout: { type: 'string' },
      'stall-timeout': { type: 'string' },
      'response-timeout': { type: 'string' },
      'connect-timeout': { type: 'string' },
      concurrency: { type: 'string' },
      'max-size': { type: 'string' },
      level: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
      version: { type: 'boolean' },
    },
  });
  const { values, positionals } = parsed;
  if (values.version) return 'version';
  if (values.help || positionals.length === 0) return 'help';
  const [name, ...extra] = positionals;
  const takes = name === 'ls' || name === 'delete' || name === 'cache' ? 1 : 0;
  if (extra.length > takes) throw new LarderError('LARDER_USAGE', `unexpected ${extra.slice(takes).join(' ')}; put a command to run after --`);
  if (!['save', 'restore', 'run', 'key', 'ls', 'delete', 'cache'].includes(name ?? '')) throw new LarderError('LARDER_USAGE', `unknown command ${JSON.stringify(name)}; see larder --help`);
  if (name === 'delete' && extra.length === 0) throw new LarderError('LARDER_USAGE', 'larder delete needs the KEY to delete');
  if (name === 'run' && command.length === 0) throw new LarderError('LARDER_USAGE', 'larder run needs a command after --');
  const preset = values.preset === undefined ? undefined : presetNamed(values.preset);
  const rebuilt = name === 'run' && values.exact === undefined && values['restore-key'] === undefined && preset?.rebuiltBy?.(command) === true;
  const options: ClientOptions = {
    server: values.server ?? env.LARDER_SERVER ?? DEFAULT_SERVER,
    namespace: checkNamespace(values.namespace ?? env.LARDER_NAMESPACE ?? 'default'),
    token: values.token ?? (env.LARDER_TOKEN || undefined),
    keyTemplate: values.key ?? preset?.key,
    restoreKeyTemplates: values['restore-key'] ?? preset?.restoreKeys ?? [],
    keyPrefix: checkKeyPrefix(values['key-prefix'] ?? env.LARDER_KEY_PREFIX ?? ''),
    fallbackPrefix: optionalPrefix(values['fallback-prefix'] ?? (env.LARDER_FALLBACK_PREFIX || undefined)),
    exact: (values.exact ?? false) || rebuilt,
    exactBecause: rebuilt ? `${command.join(' ')} deletes ${(preset?.paths ?? []).join(', ')} before it installs, so only an exact hit is restored` : undefined,
    allowUntrusted: values['allow-untrusted'] ?? env.LARDER_ALLOW_UNTRUSTED === '1',
    oidc: oidcSource(values['oidc-audience'] ?? (env.LARDER_OIDC_AUDIENCE || undefined), env),
    paths: values.path ?? preset?.paths ?? [],
    strict: values.strict ?? false,
    json: values.json ?? false,
    explain: values.explain ?? false,
    reportFile: values.report,
    timeoutMs: wholeNumber('--timeout', values.timeout ?? env.LARDER_TIMEOUT ?? '600', 1, 86_400) * 1000,
    stallTimeoutMs: wholeNumber('--stall-timeout', values['stall-timeout'] ?? env.LARDER_STALL_TIMEOUT ?? '120', 1, 86_400) * 1000,
    responseTimeoutMs: wholeNumber('--response-timeout', values['response-timeout'] ?? env.LARDER_RESPONSE_TIMEOUT ?? '8', 1, 3600) * 1000,
    connectTimeoutMs: wholeNumber('--connect-timeout', values['connect-timeout'] ?? env.LARDER_CONNECT_TIMEOUT ?? '3', 1, 600) * 1000,
    concurrency: wholeNumber('--concurrency', values.concurrency ?? '4', 1, 64),
    level: wholeNumber('--level', values.level ?? '3', 1, 19),
    cwd,
    home: env.HOME || homedir(),
    cacheDir: cacheDirOf(env),
    // Runners are fresh machines: a local cache there only costs disk. Developers switch branches.
    localCache: env.LARDER_LOCAL_CACHE === undefined || env.LARDER_LOCAL_CACHE === '' ? env.CI !== 'true' : env.LARDER_LOCAL_CACHE === '1',
    localCacheMaxBytes: byteSize('LARDER_LOCAL_CACHE_MAX', env.LARDER_LOCAL_CACHE_MAX || '5G'),
    githubOutput: env.GITHUB_OUTPUT || undefined,
    githubStepSummary: env.GITHUB_STEP_SUMMARY || undefined,
    emfNamespace: values.emf || values['emf-namespace'] ? (values['emf-namespace'] ?? env.LARDER_EMF_NAMESPACE ?? EMF_NAMESPACE) : undefined,
    command,
    argument: extra[0],
  };
  if (name === 'cache') {
    if (extra[0] !== 'info' && extra[0] !== 'prune') throw new LarderError('LARDER_USAGE', 'larder cache needs info or prune');
    if (values['max-size'] !== undefined) options.localCacheMaxBytes = byteSize('--max-size', values['max-size']);
    return { command: name, options };
  }
  if (name === 'ls' || name === 'delete') return { command: name, options };
  if (!options.keyTemplate) throw new LarderError('LARDER_USAGE', `larder ${name} needs --key TEMPLATE or --preset NAME`);
  if (name !== 'key' && options.paths.length === 0) throw new LarderError('LARDER_USAGE', `larder ${name} needs --path PATH or --preset NAME`);
  return { command: name as string, options };
}
