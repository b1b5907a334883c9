import { bearerToken } from '../transport/ci-token.ts';
import { isLarderError, LarderError } from '../../shared/errors.ts';
import { mapLimit } from '../../shared/concurrency.ts';
import { checkKey, checkKeyPrefix } from '../../shared/wire/names.ts';
import type { ClientOptions } from '../options.ts';
import { CacheClient } from '../transport/transfer.ts';
import type { Io } from './context.ts';
import { count, mb } from '../../shared/units.ts';

// Operators' commands: see what a namespace holds and remove a bad entry. Unlike save and
// restore, they are not part of a build, so a failure exits 1.

const LIST_LIMIT = 100;

interface Listed {
  key: string;
  createdAt: string;
  files: number;
  /** bytes of file content the entry restores */
  fileBytes: number;
  /** bytes its parts take in the store */
  storedBytes: number;
}

export async function lsCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number }> {
  const prefix = checkKeyPrefix(options.argument ?? '');
  return operate('ls', options, io, async (client) => {
    const summaries = await client.listEntries(prefix, LIST_LIMIT);
    const listed = await mapLimit(summaries, 8, async ({ key, createdAt }): Promise<Listed | undefined> => {
      const entry = await client.getEntry(key);
      if (!entry) return undefined; // deleted meanwhile
      const parts = entry.paths.flatMap((p) => p.parts);
      return { key, createdAt, files: sum(entry.paths.map((p) => p.files)), fileBytes: sum(entry.paths.map((p) => p.fileBytes)), storedBytes: sum(parts.map((p) => p.size)) };
    });
    const rows = listed.filter((e) => e !== undefined);
    if (options.json) {
      io.out(`${JSON.stringify({ entries: rows })}\n`);
      return;
    }
    if (rows.length === 0) {
      io.err(`larder ls: no entries${options.argument ? ` starting with ${JSON.stringify(options.argument)}` : ''} in ${options.namespace}`);
      return;
    }
    const width = Math.max(...rows.map((r) => r.key.length), 3);
    io.out(`${'KEY'.padEnd(width)}  ${'AGE'.padStart(5)}  ${'FILES'.padStart(9)}  ${'SIZE'.padStart(9)}  ${'STORED'.padStart(9)}\n`);
    const now = Date.now();
    for (const r of rows) {
      io.out(`${r.key.padEnd(width)}  ${age(now - Date.parse(r.createdAt)).padStart(5)}  ${count(r.files).padStart(9)}  ${mb(r.fileBytes).padStart(9)}  ${mb(r.storedBytes).padStart(9)}\n`);
    }
    if (summaries.length === LIST_LIMIT) io.err(`larder ls: the newest ${LIST_LIMIT} shown; give a longer PREFIX to see others`);
  });
}

export async function deleteCommand(options: ClientOptions, io: Io): Promise<{ exitCode: number }> {
  const key = checkKey(options.argument ?? '');
  return operate('delete', options, io, async (client) => {
    if (!(await client.deleteEntry(key))) throw new LarderError('LARDER_ENTRY_NOT_FOUND', `no entry ${key} in ${options.namespace}`);
    io.err(`larder delete: deleted ${key} from ${options.namespace}; its parts stay while other entries use them`);
  });
}

async function operate(name: string, options: ClientOptions, io: Io, work: (client: CacheClient) => Promise<void>): Promise<{ exitCode: number }> {
  const client = new CacheClient({ server: options.server, namespace: options.namespace, token: await bearerToken(options.token, options.oidc), signal: AbortSignal.timeout(options.timeoutMs) });
  try {
    await work(client);
    return { exitCode: 0 };
  } catch (err) {
    const error = isLarderError(err) ? err : new LarderError('LARDER_INTERNAL', (err as Error).message, { cause: err });
    io.err(`larder ${name}: ${error.code}: ${error.message}`);
    return { exitCode: 1 };
  } finally {
    await client.close();
  }
}

function age(ms: number): string {
  const minutes = Math.max(0, Math.floor(ms / 60_000));
  if (minutes < 60) return `${minutes}m`;
  if (minutes < 48 * 60) return `${Math.floor(minutes / 60)}h`;
  return `${Math.floor(minutes / 1440)}d`;
}

function sum(values: number[]): number {
  return values.reduce((a, b) => a + b, 0);
}
