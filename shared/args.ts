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

/** 5368709120, 500M, 2G (powers of 1024). */
export function byteSize(flag: string, text: string): number {
  const match = /^(\d+)([KMGT]?)i?B?$/i.exec(text.trim());
  if (!match) throw new LarderError('LARDER_USAGE', `${flag} ${text}: expected a size such as 500M or 5G`);
  return Number(match[1]) * 1024 ** ' KMGT'.indexOf((match[2] || ' ').toUpperCase());
}

const DURATION_UNITS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** 90s, 30m, 12h, 30d, in milliseconds. */
export function duration(flag: string, text: string): number {
  const match = /^(\d+)([smhd])$/.exec(text.trim());
  if (!match) throw new LarderError('LARDER_USAGE', `${flag} ${text}: expected a duration such as 30m, 12h or 30d`);
  return Number(match[1]) * (DURATION_UNITS[match[2] as string] as number);
}
