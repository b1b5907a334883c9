#!/usr/bin/env node
import { spawnSync } from 'node:child_process';
import { NODE_ADVICE, nodeIsRecentEnough } from './node-check.js';

if (nodeIsRecentEnough()) {
  const { runCli } = await import('../client/cli.ts');
  await runCli();
} else {
  // A cache must not stop a build: warn; `larder run` still runs its command.
  const argv = process.argv.slice(2);
  process.stderr.write(`larder: warning: ${NODE_ADVICE}; continuing without the cache\n`);
  const dashDash = argv.indexOf('--');
  if (argv[0] === 'run' && dashDash > 0 && argv.length > dashDash + 1) {
    const [file, ...args] = argv.slice(dashDash + 1);
    process.exitCode = spawnSync(file, args, { stdio: 'inherit' }).status ?? 1;
  } else {
    process.exitCode = argv.includes('--strict') ? 1 : 0;
  }
}
