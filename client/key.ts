import { matchFiles } from './match-files.ts';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import xxhash from 'xxhash-wasm';
import { LarderError } from '../shared/errors.ts';
import { checkKey, checkKeyPrefix } from '../shared/wire/names.ts';
import type { RuntimeFacts } from './runtime.ts';

// Key templates: `npm-{os}-{arch}-node{node}-{hash:package-lock.json}`. Each placeholder
// is expanded once and recorded, so `larder key --explain` and the manifest can show
// exactly what made a key.

export interface KeyContext {
  cwd: string;
  env: NodeJS.ProcessEnv;
  runtime: RuntimeFacts;
}

export interface ExpandedKey {
  key: string;
  /** placeholder → its value */
  inputs: Record<string, string>;
  /** for each {hash:…}: the files hashed, in order */
  hashedFiles: Record<string, string[]>;
}

const PLACEHOLDER = /\{([a-z]+)(?::([^{}]*))?\}/g;

let hasherPromise: ReturnType<typeof xxhash> | undefined;

export async function expandTemplate(template: string, context: KeyContext, { prefix = false } = {}): Promise<ExpandedKey> {
  const inputs: Record<string, string> = {};
  const hashedFiles: Record<string, string[]> = {};
  // The wasm hasher takes a few to tens of milliseconds to start: only for keys that hash.
  const hasher = /\{(hash|root)\b/.test(template) ? await (hasherPromise ??= xxhash()) : undefined;
  let key = '';
  let last = 0;
  for (const match of template.matchAll(PLACEHOLDER)) {
    const [whole, name = '', arg] = match;
    key += template.slice(last, match.index) + (inputs[whole] ??= valueOf(name, arg, context, hasher, hashedFiles, whole));
    last = match.index + whole.length;
  }
  key += template.slice(last);
  if (/[{}]/.test(key)) throw new LarderError('LARDER_USAGE', `key template ${JSON.stringify(template)} has an unclosed or unknown placeholder`);
  return { key: prefix ? checkKeyPrefix(key) : checkKey(key), inputs, hashedFiles };
}

function valueOf(
  name: string,
  arg: string | undefined,
  { cwd, env, runtime }: KeyContext,
  hasher: Awaited<ReturnType<typeof xxhash>> | undefined,
  hashedFiles: Record<string, string[]>,
  whole: string,
): string {
  const hashing = (): Awaited<ReturnType<typeof xxhash>> => {
    if (!hasher) throw new LarderError('LARDER_INTERNAL', `${whole} needs the hasher`);
    return hasher;
  };
  switch (name) {
    case 'os':
      return runtime.os;
    case 'arch':
      return runtime.arch;
    case 'libc':
      return runtime.libc();
    case 'node':
      return runtime.node();
    case 'python':
      return runtime.python();
    case 'java':
      return runtime.java();
    case 'root':
      return hashing().h64ToString(resolve(cwd)).slice(0, 8);
    case 'env': {
      if (!arg) throw new LarderError('LARDER_USAGE', '{env:NAME} needs a variable name');
      return sanitize(env[arg] ?? '');
    }
    case 'hash': {
      if (!arg) throw new LarderError('LARDER_USAGE', '{hash:GLOB,…} needs at least one glob');
      const files = matchFiles(arg.split(',').map((g) => g.trim()).filter(Boolean), cwd);
      hashedFiles[whole] = files;
      const h = hashing().create64();
      for (const file of files) {
        h.update(`${file}\0`);
        h.update(readFileSync(resolve(cwd, file)));
        h.update('\0');
      }
      return h.digest().toString(16).padStart(16, '0');
    }
    default:
      throw new LarderError('LARDER_USAGE', `unknown placeholder {${name}}; known: os arch libc node python java root env:NAME hash:GLOBS`);
  }
}

/** Environment values may hold anything; keys may not. */
function sanitize(value: string): string {
  return value.replace(/[^A-Za-z0-9._+=,@-]/g, '_');
}
