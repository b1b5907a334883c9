import { basename } from 'node:path';
import { LarderError } from '../shared/errors.ts';

// Ready recipes. Each key ends in a hash of the inputs that decide the tree's content;
// the restore key is the same template without that hash, so a changed lockfile still
// starts from the newest tree of the same platform and toolchain.

export interface Preset {
  paths: string[];
  key: string;
  restoreKeys: string[];
  /** what the preset is for, for --help */
  summary: string;
  /**
   * Whether a command deletes the preset's folders before it installs: after it, a
   * restore-key hit would have been pure cost, so `larder run` restores only an exact hit.
   */
  rebuiltBy?: (command: readonly string[]) => boolean;
}

// npm ci and its aliases delete node_modules first. npm install, yarn, pnpm, pip into
// an existing venv and Maven into an existing repository reuse what is there.
const NPM_CLEAN_INSTALLS = new Set(['ci', 'clean-install', 'ic', 'install-clean', 'isntall-clean']);

function isNpmCleanInstall(command: readonly string[]): boolean {
  const [program = '', ...args] = command;
  return basename(program) === 'npm' && NPM_CLEAN_INSTALLS.has(args.find((a) => !a.startsWith('-')) ?? '');
}

// `**/` matches the top folder too, and nested lockfiles of workspaces.
const npmLocks = '**/package-lock.json,**/npm-shrinkwrap.json,**/yarn.lock,**/pnpm-lock.yaml';
const pipInputs = 'requirements*.txt,requirements/*.txt,poetry.lock,uv.lock,Pipfile.lock,pyproject.toml';

export const PRESETS: Record<string, Preset> = {
  npm: {
    summary: 'node_modules, keyed on npm, yarn and pnpm lockfiles',
    paths: ['node_modules'],
    key: `npm-{os}-{arch}-node{node}-{hash:${npmLocks}}`,
    restoreKeys: ['npm-{os}-{arch}-node{node}-'],
    rebuiltBy: isNpmCleanInstall,
  },
  pip: {
    summary: '.venv, keyed on requirements*, poetry.lock, uv.lock, Pipfile.lock, pyproject.toml; {root} because a venv embeds its absolute path',
    paths: ['.venv'],
    key: `pip-{os}-{arch}-{libc}-py{python}-{root}-{hash:${pipInputs}}`,
    restoreKeys: ['pip-{os}-{arch}-{libc}-py{python}-{root}-'],
  },
  maven: {
    summary: '~/.m2/repository, keyed on every pom.xml',
    paths: ['~/.m2/repository'],
    key: 'maven-{os}-java{java}-{hash:**/pom.xml}',
    restoreKeys: ['maven-{os}-java{java}-'],
  },
};

export function presetNamed(name: string): Preset {
  const preset = PRESETS[name];
  if (!preset) throw new LarderError('LARDER_USAGE', `unknown preset ${JSON.stringify(name)}; known: ${Object.keys(PRESETS).join(', ')}`);
  return preset;
}
