import type { ClientOptions } from '../options.ts';
import { expandKeys, type Io } from './context.ts';

/** Prints the key; with --explain, every placeholder's value and the files each hash covers. */
export async function keyCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number }> {
  const { key, restoreKeys } = await expandKeys(options, io);
  if (options.json) {
    io.out(`${JSON.stringify({ key: key.key, restoreKeys, inputs: key.inputs, hashedFiles: key.hashedFiles })}\n`);
    return { exitCode: 0 };
  }
  io.out(`${key.key}\n`);
  if (!options.explain) return { exitCode: 0 };
  io.out(`  template     ${options.keyTemplate}\n`);
  for (const [placeholder, value] of Object.entries(key.inputs)) {
    io.out(`  ${placeholder.padEnd(12)} ${value}\n`);
    const files = key.hashedFiles[placeholder];
    if (files) io.out(files.length === 0 ? '               (no file matched: the hash covers nothing)\n' : files.map((f) => `               ${f}\n`).join(''));
  }
  for (const prefix of restoreKeys) io.out(`  restore key  ${prefix}\n`);
  return { exitCode: 0 };
}
