import { createHash, randomBytes } from 'node:crypto';
import { link, mkdir, readdir, readFile, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { dirname, join, relative, sep } from 'node:path';
import { LarderError } from '../../shared/errors.ts';
import { META_NAME, type MetaCondition, type MetaObject } from './store.ts';

// The disk store's bookkeeping objects (retention state, the collector's lease, access
// logs), as files under v1/meta. Their etag is a hash of the bytes. A conditional
// replace moves the current file aside first (rename is atomic: of two writers, one
// moves it), checks that what it moved is the version it expected, and only then links
// the new one in; so even two processes on one folder cannot both win.

export class FsMeta {
  readonly #dir: string;
  readonly #tmp: string;

  constructor(root: string, tmp: string) {
    this.#dir = join(root, 'v1', 'meta');
    this.#tmp = tmp;
  }

  async get(name: string): Promise<MetaObject | undefined> {
    const body = await readFile(this.#file(name)).catch(absentAs(undefined));
    return body && { body, etag: etagOf(body) };
  }

  async put(name: string, body: Buffer, condition?: MetaCondition): Promise<{ etag: string } | 'conflict'> {
    const file = this.#file(name);
    await mkdir(dirname(file), { recursive: true });
    const fresh = join(this.#tmp, `meta-${randomBytes(8).toString('hex')}`);
    await writeSynced(fresh, body);
    try {
      if (!condition) await rename(fresh, file);
      else if ('ifAbsent' in condition) {
        if (!(await linkUnlessExists(fresh, file))) return 'conflict';
      } else {
        const aside = join(this.#tmp, `meta-old-${randomBytes(8).toString('hex')}`);
        if (!(await rename(file, aside).then(() => true, absentAs(false)))) return 'conflict';
        const moved = await readFile(aside);
        if (etagOf(moved) !== condition.ifEtag) {
          await linkUnlessExists(aside, file); // put back what another writer wrote
          await rm(aside, { force: true });
          return 'conflict';
        }
        await rm(aside, { force: true });
        if (!(await linkUnlessExists(fresh, file))) return 'conflict';
      }
      return { etag: etagOf(body) };
    } finally {
      await rm(fresh, { force: true });
    }
  }

  async list(prefix: string): Promise<string[]> {
    const names: string[] = [];
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true }).catch(absentAs([]))) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) await walk(path);
        else names.push(relative(this.#dir, path).split(sep).join('/'));
      }
    };
    // From the prefix's own folder: one upload's blocks, not every object there is.
    const folder = prefix.slice(0, prefix.lastIndexOf('/') + 1);
    await walk(join(this.#dir, ...folder.split('/').filter(Boolean)));
    return names.filter((n) => n.startsWith(prefix)).sort();
  }

  async delete(name: string): Promise<void> {
    await unlink(this.#file(name)).catch(absentAs(undefined));
  }

  #file(name: string): string {
    if (!META_NAME.test(name)) throw new LarderError('LARDER_INTERNAL', `bad bookkeeping object name ${name}`);
    return join(this.#dir, ...name.split('/'));
  }
}

export function etagOf(body: Buffer): string {
  return createHash('sha256').update(body).digest('hex').slice(0, 32);
}

async function writeSynced(path: string, body: Buffer): Promise<void> {
  await writeFile(path, body, { flag: 'wx', flush: true });
}

async function linkUnlessExists(from: string, to: string): Promise<boolean> {
  try {
    await link(from, to);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}

function absentAs<T>(value: T): (err: unknown) => T {
  return (err) => {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return value;
    throw err;
  };
}
