import type { ClientOptions } from '../options.ts';
import type { Report } from '../report.ts';
import { restore } from '../restore.ts';
import { expandKeys, failureReport, localScope, type Io, progressLine, publishReport, withClient } from './context.ts';

export async function restoreCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number; report: Report }> {
  const { key, restoreKeys: prefixes, sameInputs } = await expandKeys(options, io);
  if (options.exactBecause) io.err(`larder restore: ${options.exactBecause}`);
  const restoreKeys = options.exact ? sameInputs : prefixes;
  let report: Report;
  try {
    report = await withClient(options, (client, workers) =>
      restore(client, workers, { key: key.key, restoreKeys, sameInputs, allowUntrusted: options.allowUntrusted, localCache: localScope(options), paths: options.paths, cwd: options.cwd, home: options.home, cacheDir: options.cacheDir, concurrency: options.concurrency, log: io.err, progress: progressLine(io, 'restore') }),
    );
  } catch (err) {
    report = failureReport('restore', key.key, err);
  }
  return { exitCode: await publishReport(report, options, io), report };
}
