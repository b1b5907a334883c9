import type { ClientOptions } from '../options.ts';
import type { Report } from '../report.ts';
import { save } from '../save.ts';
import { expandKeys, failureReport, type Io, localScope, progressLine, publishReport, withClient } from './context.ts';

/** buildSeconds: how long the command that built the paths took, when larder ran it. */
export async function saveCommand(options: ClientOptions, io: Io, buildSeconds?: number): Promise<{ exitCode: number; report: Report }> {
  const { key, restoreKeys } = await expandKeys(options, io);
  let report: Report;
  try {
    report = await withClient(options, (client, workers) =>
      save(client, workers, { localCache: localScope(options), key: key.key, restoreKeys, inputs: key.inputs, paths: options.paths, cwd: options.cwd, home: options.home, cacheDir: options.cacheDir, concurrency: options.concurrency, level: options.level, buildSeconds, log: io.err, progress: progressLine(io, 'save') }),
    );
  } catch (err) {
    report = failureReport('save', key.key, err);
  }
  return { exitCode: await publishReport(report, options, io), report };
}
