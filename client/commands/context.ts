import { appendFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { isLarderError, LarderError } from '../../shared/errors.ts';
import { type ExpandedKey, expandTemplate } from '../key.ts';
import type { ClientOptions } from '../options.ts';
import { describe, githubOutputs, type Report } from '../report.ts';
import { detectRuntime } from '../runtime.ts';
import { CacheClient } from '../transfer.ts';
import { Watchdog } from '../watchdog.ts';
import { PartWorkers } from '../worker-pool.ts';

// What the save, restore and run commands share: expanding keys, a client bound to the
// overall deadline, turning a cache failure into a warning, and printing the outcome.

export interface Io {
  out: (text: string) => void;
  err: (line: string) => void;
  env: NodeJS.ProcessEnv;
}

export interface Keys {
  key: ExpandedKey;
  restoreKeys: string[];
}

export async function expandKeys(options: ClientOptions, env: NodeJS.ProcessEnv): Promise<Keys> {
  const context = { cwd: options.cwd, env, runtime: detectRuntime() };
  const key = await expandTemplate(options.keyTemplate ?? '', context);
  const restoreKeys: string[] = [];
  for (const template of options.restoreKeyTemplates) restoreKeys.push((await expandTemplate(template, context, { prefix: true })).key);
  return { key, restoreKeys };
}

/**
 * Runs fn with a client and part workers bound to --timeout (the whole command) and
 * --stall-timeout (no progress at all); either stops every request and worker.
 */
export async function withClient<T>(options: ClientOptions, fn: (client: CacheClient, workers: PartWorkers) => Promise<T>): Promise<T> {
  const watchdog = new Watchdog(options.stallTimeoutMs);
  const stop = new AbortController();
  const signal = AbortSignal.any([AbortSignal.timeout(options.timeoutMs), stop.signal]);
  const client = new CacheClient({ server: options.server, namespace: options.namespace, token: options.token, signal, onProgress: watchdog.tick });
  // One worker per core does the CPU work; --concurrency parts are in flight around them.
  const workers = new PartWorkers(Math.min(options.concurrency, availableParallelism()), { server: options.server, namespace: options.namespace, token: options.token }, watchdog.tick);
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
  }
}

/** A cache failure as a report: the build goes on unless --strict. */
export function failureReport(command: Report['command'], key: string, err: unknown): Report {
  const error = isLarderError(err) ? err : new LarderError('LARDER_INTERNAL', (err as Error)?.message ?? String(err), { cause: err });
  return { command, outcome: 'error', key, paths: [], files: 0, fileBytes: 0, parts: 0, transferredBytes: 0, seconds: 0, phases: {}, error: error.toJSON() };
}

/** Prints the outcome everywhere it was asked for; returns the exit code it implies. */
export function publishReport(report: Report, options: ClientOptions, io: Io): number {
  io.err(describe(report));
  if (report.outcome === 'error' && report.error?.code !== 'LARDER_INTEGRITY') io.err(`larder ${report.command}: continuing without the cache${options.strict ? '' : ' (--strict would fail here)'}`);
  if (options.json) io.out(`${JSON.stringify(report)}\n`);
  if (options.reportFile) writeFileSync(options.reportFile, `${JSON.stringify(report, null, 2)}\n`);
  const outputs = githubOutputs(report);
  if (options.githubOutput && outputs) appendFileSync(options.githubOutput, outputs);
  const failed = report.outcome === 'error' || report.outcome === 'skipped';
  return failed && options.strict ? 1 : 0;
}
