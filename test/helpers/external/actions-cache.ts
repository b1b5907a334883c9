import * as cache from '@actions/cache';

// Drives the real @actions/cache (the library actions/cache and the setup-* actions are
// built on) the way a workflow step does, in its own process so its environment
// (ACTIONS_* variables, read on every call) is the step's:
//   node actions-cache.ts save KEY PATH…
//   node actions-cache.ts restore KEY RESTORE_KEYS(comma-separated, may be empty) PATH…
// It prints one JSON line: { "result": <cache id | matched key | null> } or { "error": "…" }.

const [command, key = '', third = '', ...rest] = process.argv.slice(2);
try {
  let result: unknown;
  if (command === 'save') result = await cache.saveCache([third, ...rest], key);
  else if (command === 'restore') result = (await cache.restoreCache(rest, key, third === '' ? [] : third.split(','))) ?? null;
  else throw new Error(`unknown command ${command}`);
  process.stdout.write(`${JSON.stringify({ result })}\n`);
} catch (err) {
  process.stdout.write(`${JSON.stringify({ error: (err as Error).message })}\n`);
}
