import { parseArgs, type ParseArgsConfig } from 'node:util';
import { LarderError } from './errors.ts';

// Command-line parsing shared by `larder` and `larder-server`: every mistake is a usage error.

export function parseCommandLine<T extends ParseArgsConfig>(config: T): ReturnType<typeof parseArgs<T>> {
  try {
    return parseArgs(config);
  } catch (err) {
    throw new LarderError('LARDER_USAGE', (err as Error).message);
  }
}

export function wholeNumber(flag: string, text: string, min: number, max: number): number {
  const value = Number(text);
  if (!Number.isSafeInteger(value) || value < min || value > max) throw new LarderError('LARDER_USAGE', `${flag} ${text}: expected a whole number from ${min} to ${max}`);
  return value;
}
