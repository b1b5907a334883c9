import { spawnSync } from 'node:child_process';

// The client package's entry: the same CLI, on any Node from 20.17 (path.matchesGlob,
// process.getBuiltinModule). On an older one it says so once and never breaks the build:
// exit 0 (1 with --strict), and `larder run` still runs its command.

const [major = 0, minor = 0] = process.versions.node.split('.').map(Number);
if (major > 20 || (major === 20 && minor >= 17)) {
  if (major < 22) quietGlobWarning();
  const { runCli } = await import('../cli.ts');
  await runCli();
} else {
  const argv = process.argv.slice(2);
  process.stderr.write(`larder: warning: needs Node >= 20.17 (this is ${process.version}); continuing without the cache\n`);
  const dashDash = argv.indexOf('--');
  const [file, ...args] = dashDash > 0 ? argv.slice(dashDash + 1) : [];
  if (argv[0] === 'run' && file) process.exitCode = spawnSync(file, args, { stdio: 'inherit' }).status ?? 1;
  else process.exitCode = argv.includes('--strict') ? 1 : 0;
}

/**
 * Node 20 calls its glob matcher experimental on stderr, in every build log, as soon as
 * anything imports node:path (the import reads every export): not news to a user.
 */
function quietGlobWarning(): void {
  const printers = process.listeners('warning');
  process.removeAllListeners('warning');
  process.on('warning', (warning) => {
    if (warning.name === 'ExperimentalWarning' && /\bglob\b/.test(warning.message)) return;
    for (const print of printers) print.call(process, warning);
  });
}
