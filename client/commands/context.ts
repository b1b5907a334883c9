import { appendFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fromSystemError, isLarderError, LarderError } from '../../shared/errors.ts';
import { checkKey, checkKeyPrefix } from '../../shared/wire/names.ts';
import { type ExpandedKey, expandTemplate } from '../key.ts';
import type { ClientOptions } from '../options.ts';
import { describe, emfLine, githubOutputs, type Report, stepSummary } from '../report.ts';
import { detectRuntime } from '../runtime.ts';
import { partsDir, prunePartCache } from '../local/part-cache.ts';
import { bearerToken } from '../transport/ci-token.ts';
import { CacheClient } from '../transport/transfer.ts';
import { Watchdog } from '../transport/watchdog.ts';
import { PartWorkers } from '../workers/worker-pool.ts';

// What the save, restore and run commands share: expanding keys, a client bound to the
// overall deadline, turning a cache failure into a warning, and printing the outcome.

export interface Io {
  out: (text: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
  /** a terminal: a live progress line is welcome */
  tty?: boolean;
}

/** A progress line on a terminal, redrawn in place; nothing elsewhere (CI logs). */
export function progressLine(io: Io, command: string): ((done: number, total: number, bytes: number) => void) | undefined {
  if (!io.tty) return undefined;
  return (done, total, bytes) => {
    const width = 24;
    const filled = Math.round((done / Math.max(1, total)) * width);
    process.stderr.write(`\r\x1b[2Klarder ${command}: [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} parts, ${(bytes / 1e6).toFixed(1)} MB${done === total ? '\n' : ''}`);
  };
}

export interface Keys {
  key: ExpandedKey;
  /** the tier's restore keys, then (with --fallback-prefix) the same key and restore keys in the trusted tier */
  restoreKeys: string[];
  /** restore keys that name exactly this key in the trusted tier: a hit on one is exact */
  sameInputs: string[];
}

export async function expandKeys(options: ClientOptions, io: Io): Promise<Keys> {
  const context = { cwd: options.cwd, env: io.env, runtime: detectRuntime() };
  const key = await expandTemplate(options.keyTemplate ?? '', context);
  // A hash of no file is a constant: the key would never change when the lockfile does.
  const empty = Object.entries(key.hashedFiles).filter(([, files]) => files.length === 0).map(([placeholder]) => placeholder);
  if (empty.length > 0) {
    const message = `${empty.join(', ')} matched no file in ${options.cwd}, so the key does not change when those files do; run from the project folder or fix the glob`;
    if (options.strict) throw new LarderError('LARDER_USAGE', message);
    io.err(`larder: warning: ${message}`);
  }
  const prefixes: string[] = [];
  for (const template of options.restoreKeyTemplates) prefixes.push((await expandTemplate(template, context, { prefix: true })).key);
  // Trust tiers: the key and restore keys live under the tier's prefix; a trusted tier to
  // fall back to is tried after, its entry of these very inputs first.
  const tiered = { ...key, key: checkKey(options.keyPrefix + key.key) };
  const own = prefixes.map((p) => checkKeyPrefix(options.keyPrefix + p));
  const fallback = options.fallbackPrefix;
  if (fallback === undefined || fallback === options.keyPrefix) return { key: tiered, restoreKeys: own, sameInputs: [] };
  const same = checkKey(fallback + key.key);
  return { key: tiered, restoreKeys: [same, ...own, ...prefixes.map((p) => checkKeyPrefix(fallback + p))], sameInputs: [same] };
}

/**
 * Runs fn with a client and part workers bound to --timeout (the whole command) and
 * --stall-timeout (no progress at all); either stops every request and worker.
 */
export async function withClient<T>(options: ClientOptions, fn: (client: CacheClient, workers: PartWorkers) => Promise<T>): Promise<T> {
  const stop = new AbortController();
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), stop.signal]);
  const timeouts = { idleTimeoutMs: options.responseTimeoutMs, connectTimeoutMs: options.connectTimeoutMs };
  let watchdog: Watchdog | undefined;
  const tick = (): void => watchdog?.tick();
  // The client checks the server's URL: a bad one fails here, before any timer runs.
  const token = await bearerToken(options.token, options.oidc);
  const client = new CacheClient({ server: options.server, namespace: options.namespace, token, signal, onProgress: tick, ...timeouts });
  // One worker per core does the CPU work; --concurrency parts are in flight around them.
  const workers = new PartWorkers(Math.min(options.concurrency, availableParallelism()), { server: options.server, namespace: options.namespace, token, ...timeouts, ...(options.localCache ? { partCache: partsDir(options.cacheDir) } : {}) }, tick);
  watchdog = new Watchdog(options.stallTimeoutMs);
  let timer: NodeJS.Timeout | undefined;
  const overall = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new LarderError('LARDER_TIMEOUT', `gave up after --timeout ${options.timeoutMs / 1000} s`)), options.timeoutMs);
  });
  try {
    return await Promise.race([fn(client, workers), overall, watchdog.stalled]);
  } finally {
    clearTimeout(timer);
    watchdog.stop();
    stop.abort();
    await workers.terminate();
    void client.close().catch(() => {});
    // The local part cache stays under its cap (least recently used parts go first).
    if (options.localCache) prunePartCache(partsDir(options.cacheDir), options.localCacheMaxBytes);
  }
}

/** Where the local cache keeps this server's and namespace's manifests; undefined when it is off. */
export function localScope(options: ClientOptions): { server: string; namespace: string } | undefined {
  return options.localCache ? { server: options.server, namespace: options.namespace } : undefined;
}

/** A cache failure as a report: the build goes on unless --strict. */
export function failureReport(command: Report['command'], key: string, err: unknown): Report {
  const error = isLarderError(err) ? err : (fromSystemError(err) ?? new LarderError('LARDER_INTERNAL', (err as Error)?.message ?? String(err), { cause: err }));
  return { command, outcome: 'error', key, paths: [], files: 0, fileBytes: 0, parts: 0, transferredBytes: 0, seconds: 0, phases: {}, error: error.toJSON() };
}

/** Prints the outcome everywhere it was asked for, tells the server; returns the exit code it implies. */
export async function publishReport(report: Report, options: ClientOptions, io: Io): Promise<number> {
  io.err(describe(report));
  if (report.outcome === 'error' && report.error?.code !== 'LARDER_INTEGRITY') io.err(`larder ${report.command}: ${options.strict ? 'failing, as --strict asks' : 'continuing without the cache (--strict would fail here)'}`);
  if (options.json) io.out(`${JSON.stringify(report)}\n`);
  if (options.emfNamespace) io.out(`${emfLine(report, options.emfNamespace, options.namespace)}\n`);
  if (options.githubStepSummary) appendFileSync(options.githubStepSummary, stepSummary(report));
  if (report.outcome !== 'error') await tellServer(report, options);
  if (options.reportFile) writeFileSync(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
  const outputs = githubOutputs(report);
  if (options.githubOutput && outputs) appendFileSync(options.githubOutput, outputs);
  const failed = report.outcome === 'error' || report.outcome === 'skipped';
  return failed && options.strict ? 1 : 0;
}

/** Best effort, quick: the server's stats are worth a try, never a wait. */
async function tellServer(report: Report, options: ClientOptions): Promise<void> {
  const token = await bearerToken(options.token, options.oidc).catch(() => undefined);
  const client = new CacheClient({ server: options.server, namespace: options.namespace, token, retries: 0, idleTimeoutMs: 2_000, signal: AbortSignal.timeout(3_000) });
  const outcome = report.outcome === 'hit' || report.outcome === 'miss' || report.outcome === 'saved' || report.outcome === 'exists' || report.outcome === 'skipped' ? report.outcome : 'error';
  const saved = report.savedSeconds === undefined || report.matchedKey === undefined ? {} : { savedSeconds: report.savedSeconds, key: report.matchedKey };
  await client.report({ command: report.command, outcome, seconds: Math.min(report.seconds, 86_400), ...saved }).catch(() => {});
  await client.close();
}
