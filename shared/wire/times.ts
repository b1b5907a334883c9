import { LarderError } from '../errors.ts';

// Times travel beside the parts, in the manifest, so that a part's bytes depend only on
// what the tree holds: npm, pip and Maven write install-time mtimes, and parts holding
// them would differ on every fresh install. One part's times are its members' mtimes in
// whole seconds, in member order, written as base-36 differences from the time before
// (the first from 0), comma-separated, with a run of equal differences as `diff*count`:
// a fresh install's times are close together, so a part of 500 members takes a few
// hundred bytes.

/** What an encoded list may hold: base-36 digits, a minus sign, `*` and commas. */
export const TIMES_PATTERN = /^[0-9a-z*,-]*$/;
/** Seconds either side of 1970 a time may lie (about ±4.4 million years): integers stay exact. */
const MAX_SECONDS = 2 ** 47;

export function encodeTimes(seconds: readonly number[]): string {
  const tokens: string[] = [];
  let previous = 0;
  let run = 0;
  let runDiff = 0;
  const flush = (): void => {
    if (run > 0) tokens.push(run === 1 ? runDiff.toString(36) : `${runDiff.toString(36)}*${run.toString(36)}`);
  };
  for (const time of seconds) {
    const diff = time - previous;
    previous = time;
    if (run > 0 && diff === runDiff) {
      run++;
      continue;
    }
    flush();
    run = 1;
    runDiff = diff;
  }
  flush();
  return tokens.join(',');
}

/**
 * Decodes exactly `count` times. Anything else (another count, a malformed token, a run
 * longer than what is left, a time out of range) is refused before memory is spent on it.
 */
export function decodeTimes(text: string, count: number): number[] {
  const bad = (why: string): LarderError => new LarderError('LARDER_BAD_RESPONSE', `a part's times are malformed: ${why}`);
  if (!TIMES_PATTERN.test(text)) throw bad('unexpected characters');
  const times: number[] = [];
  let previous = 0;
  if (text !== '') {
    for (const token of text.split(',')) {
      const star = token.indexOf('*');
      const diff = parseBase36(star < 0 ? token : token.slice(0, star));
      const run = star < 0 ? 1 : parseBase36(token.slice(star + 1));
      if (diff === undefined || run === undefined || run < 1) throw bad(`token ${JSON.stringify(token.slice(0, 40))}`);
      if (run > count - times.length) throw bad(`more than the part's ${count} members`);
      for (let i = 0; i < run; i++) {
        previous += diff;
        if (Math.abs(previous) > MAX_SECONDS) throw bad('a time out of range');
        times.push(previous);
      }
    }
  }
  if (times.length !== count) throw bad(`${times.length} times for ${count} members`);
  return times;
}

function parseBase36(text: string): number | undefined {
  if (!/^-?[0-9a-z]{1,10}$/.test(text)) return undefined;
  return Number.parseInt(text, 36);
}
