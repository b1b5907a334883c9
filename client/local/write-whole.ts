import { randomBytes } from 'node:crypto';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a file of the local cache whole or not at all: a temp file renamed into place,
 * so concurrent larder processes see the old file or the new one. A failure (a full or
 * read-only cache folder) only costs what the file would have saved: false.
 */
export function writeWhole(file: string, data: string | Buffer): boolean {
  try {
    mkdirSync(dirname(file), { recursive: true });
    const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    writeFileSync(temp, data);
    renameSync(temp, file);
    return true;
  } catch {
    return false;
  }
}
