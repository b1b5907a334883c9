import { isLarderError } from '../shared/errors.ts';
import type { Io } from './commands/context.ts';
import type { ClientOptions } from './options.ts';
import { LARDER_VERSION } from '../shared/version.ts';
import { CLIENT_USAGE, parseClientArgs } from './options.ts';

// The larder command. Usage errors exit 2; cache failures are warnings (exit 0) unless --strict.

type Command = (options: ClientOptions, io: Io) => Promise<{ exitCode: number }>;

// Each command loads only its own modules: start-up is part of every restore's time.
const COMMANDS: Record<string, () => Promise<Command>> = {
  save: async () => (await import('./commands/save.ts')).saveCommand,
  restore: async () => (await import('./commands/restore.ts')).restoreCommand,
  run: async () => (await import('./commands/run.ts')).runCommand,
  key: async () => (await import('./commands/key.ts')).keyCommand,
  ls: async () => (await import('./commands/entries.ts')).lsCommand,
  delete: async () => (await import('./commands/entries.ts')).deleteCommand,
  cache: async () => (await import('./commands/cache.ts')).cacheCommand,
};

export async function main(argv: string[], io: Io, cwd: string): Promise<number> {
  try {
    const parsed = parseClientArgs(argv, io.env, cwd);
    if (parsed === 'help') {
      io.out(`${CLIENT_USAGE}\n`);
      return 0;
    }
    if (parsed === 'version') {
      io.out(`larder ${LARDER_VERSION}\n`);
      return 0;
    }
    const load = COMMANDS[parsed.command];
    if (!load) throw new Error(`no command ${parsed.command}`);
    const command = await load();
    return (await command(parsed.options, io)).exitCode;
  } catch (err) {
    io.err(`larder: ${isLarderError(err) ? `${err.code}: ${err.message}` : (err as Error).stack}`);
    return isLarderError(err) && (err.code === 'LARDER_USAGE' || err.code === 'LARDER_INVALID_KEY' || err.code === 'LARDER_INVALID_NAMESPACE') ? 2 : 1;
  }
}

/** The process entry: bin/larder.js calls this. */
export async function runCli(): Promise<void> {
  const io: Io = { out: (text) => process.stdout.write(text), err: (line) => process.stderr.write(`${line}\n`), env: process.env, tty: process.stderr.isTTY && !process.env.CI };
  process.exitCode = await main(process.argv.slice(2), io, process.cwd());
}
