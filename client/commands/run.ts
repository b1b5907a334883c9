import { spawn } from 'node:child_process';
import { constants } from 'node:os';
import type { ClientOptions } from '../options.ts';
import { secondsSince } from '../report.ts';
import type { Io } from './context.ts';
import { restoreCommand } from './restore.ts';
import { saveCommand } from './save.ts';

/**
 * restore; run the command unless the hit was exact; save after it succeeds.
 * Exits with the command's own status: the cache never changes the build's outcome
 * (unless --strict and the cache failed).
 */
export async function runCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number }> {
  const restored = await restoreCommand(options, io);
  if (restored.exitCode !== 0) return restored;
  // A cache that did not answer the restore would cost the save the same wait again.
  const silent = restored.report.error?.code === 'LARDER_TIMEOUT' || restored.report.error?.code === 'LARDER_UNREACHABLE';
  if (restored.report.match === 'exact') {
    io.err(`larder run: exact hit; skipped ${options.command.join(' ')}`);
    return { exitCode: 0 };
  }
  const started = performance.now();
  const status = await spawnInherit(options.command, options.cwd, io.env);
  const buildSeconds = secondsSince(started);
  if (status !== 0) {
    io.err(`larder run: ${options.command.join(' ')} exited with ${status}; not saved`);
    return { exitCode: status };
  }
  if (silent) {
    io.err('larder run: not saving: the cache did not answer the restore');
    return { exitCode: 0 };
  }
  return saveCommand(options, io, buildSeconds);
}

function spawnInherit(command: string[], cwd: string, env: NodeJS.ProcessEnv): Promise<number> {
  const [file = '', ...args] = command;
  return new Promise((resolve) => {
    const child = spawn(file, args, { cwd, env, stdio: 'inherit' });
    child.once('error', (err) => {
      process.stderr.write(`larder run: cannot start ${file}: ${err.message}\n`);
      resolve(127);
    });
    child.once('exit', (code, signal) => resolve(code ?? 128 + (signal ? constants.signals[signal] : 0)));
  });
}
