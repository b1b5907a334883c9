import type { ClientOptions } from '../options.ts';
import type { Report } from '../report.ts';
import { save } from '../save.ts';
import { expandKeys, failureReport, type Io, publishReport, withClient } from './context.ts';

export async function saveCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number; report: Report }> {
  const { key } = await expandKeys(options, io.env);
  let report: Report;
  try {
    report = await withClient(options, (client, workers) =>
      save(client, workers, { key: key.key, inputs: key.inputs, paths: options.paths, cwd: options.cwd, home: options.home, concurrency: options.concurrency, level: options.level, log: io.err }),
    );
  } catch (err) {
    report = failureReport('save', key.key, err);
  }
  return { exitCode: publishReport(report, options, io), report };
}
