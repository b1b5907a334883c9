import { randomBytes } from 'node:crypto';
import { closeSync, linkSync, mkdirSync, openSync, renameSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * Writes a file of the local cache whole or not at all: a temp file renamed into place,
 * so concurrent larder processes see the old file or the new one. A failure (a full or
 * read-only cache folder) only costs what the file would have saved: false.
 */
export function writeWhole(file: string, data: string | Buffer | readonly Buffer[]): boolean {
  return placeWhole(file, (temp) => (Array.isArray(data) ? writePieces(temp, data) : writeFileSync(temp, data as string | Buffer)));
}

/** Pieces in a row into a new file (a stored part's: client/archive/stored.ts). */
function writePieces(file: string, pieces: readonly Buffer[]): void {
  const fd = openSync(file, 'wx');
  try {
    for (const piece of pieces) for (let at = 0; at < piece.length; ) at += writeSync(fd, piece, at);
  } finally {
    closeSync(fd);
  }
}

/** Puts an existing file in place under a second name, whole or not at all, as writeWhole does (no copy). */
export function linkWhole(file: string, existing: string): boolean {
  return placeWhole(file, (temp) => linkSync(existing, temp));
}

function placeWhole(file: string, make: (temp: string) => void): boolean {
  const temp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  let made = false;
  try {
    mkdirSync(dirname(file), { recursive: true });
    make(temp);
    made = true;
    renameSync(temp, file);
    return true;
  } catch {
    // Only a temp name that was made is removed: a folder that cannot even be made throws on rmSync too.
    if (made) rmSync(temp, { force: true });
    return false;
  }
}
