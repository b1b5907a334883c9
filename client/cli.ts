import { isLarderError } from '../shared/errors.ts';
import { keyCommand } from './commands/key.ts';
import { restoreCommand } from './commands/restore.ts';
import { runCommand } from './commands/run.ts';
import { saveCommand } from './commands/save.ts';
import type { Io } from './commands/context.ts';
import { CLIENT_USAGE, parseClientArgs } from './options.ts';

// The larder command. Usage errors exit 2; cache failures are warnings (exit 0) unless --strict.

const COMMANDS = { save: saveCommand, restore: restoreCommand, run: runCommand, key: keyCommand };

export async function main(argv: string[], io: Io, cwd: string): Promise<number> {
  try {
    const parsed = parseClientArgs(argv, io.env, cwd);
    if (parsed === 'help') {
      io.out(`${CLIENT_USAGE}\n`);
      return 0;
    }
    const command = COMMANDS[parsed.command as keyof typeof COMMANDS];
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
