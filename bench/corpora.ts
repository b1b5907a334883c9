import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

// The benchmark's corpora, built by script and cached outside the repository. Each is a
// project folder holding the tree a cache would carry.

export interface Corpus {
  name: string;
  /** the project folder: commands run here */
  project: string;
  /** the cached tree, relative to project */
  path: string;
  files: number;
  bytes: number;
  /** npm corpora: `npm ci` can rebuild the tree (the baseline larder must beat) */
  npm: boolean;
}

const CORPORA_DIR = new URL('./corpora/', import.meta.url).pathname;

export function buildCorpora(cache: string, log: (line: string) => void): Corpus[] {
  mkdirSync(cache, { recursive: true });
  return [
    npmCorpus(cache, 'npm-large', log),
    npmCorpus(cache, 'npm-small', log),
    npmCorpus(cache, 'npm-large-variant', log),
    // the same lockfile as npm-large, installed by a second, independent npm ci
    npmCorpus(cache, 'npm-large-afresh', log, 'npm-large'),
    venvCorpus(cache, log),
    m2Corpus(cache, log),
  ];
}

/** node_modules from a pinned lockfile (bench/corpora/<from>), installed once with npm ci (which also warms npm's cache). */
function npmCorpus(cache: string, name: string, log: (line: string) => void, from = name): Corpus {
  const project = join(cache, name);
  const lock = join(CORPORA_DIR, from, 'package-lock.json');
  const stamp = join(project, '.larder-bench-lock');
  const lockHash = createHash('sha256').update(readFileSync(lock)).digest('hex');
  if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lockHash) {
    log(`building ${name}: npm ci from its pinned lockfile`);
    rmSync(project, { recursive: true, force: true });
    mkdirSync(project, { recursive: true });
    cpSync(join(CORPORA_DIR, from, 'package.json'), join(project, 'package.json'));
    cpSync(lock, join(project, 'package-lock.json'));
    execFileSync('npm', ['ci', '--ignore-scripts', '--no-audit', '--no-fund', '--loglevel=error'], { cwd: project, stdio: 'inherit' });
    writeFileSync(stamp, lockHash);
  }
  return { name, project, path: 'node_modules', npm: true, ...measureTree(join(project, 'node_modules')) };
}

/** A real venv (bin/python3 links to an absolute interpreter outside the tree) filled with real installed packages. */
function venvCorpus(cache: string, log: (line: string) => void): Corpus {
  const project = join(cache, 'venv');
  const venv = join(project, '.venv');
  buildOnce(project, 'building venv: python3 -m venv, then installed packages copied in from this machine', log, () => {
    execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
    const source = execFileSync('python3', ['-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).toString().trim();
    const target = execFileSync(join(venv, 'bin/python3'), ['-c', "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).toString().trim();
    const wanted = /^(numpy|scipy|pandas|matplotlib|sklearn|scikit_learn|botocore|boto3|s3transfer|IPython|pygments|jedi|parso|yaml|PyYAML|dateutil|python_dateutil|pytz)([-_.].*dist-info)?$/i;
    for (const name of readdirSync(source).filter((n) => wanted.test(n))) cpSync(join(source, name), join(target, name), { recursive: true, verbatimSymlinks: true });
    writeFileSync(join(project, 'requirements.txt'), readdirSync(target).filter((n) => n.endsWith('.dist-info')).sort().join('\n') + '\n');
  });
  return { name: 'venv', project, path: '.venv', npm: false, ...measureTree(venv) };
}

/** ~/.m2/repository's shape: group/artifact/version/ with jar, pom, sha1s and _remote.repositories. */
function m2Corpus(cache: string, log: (line: string) => void): Corpus {
  const project = join(cache, 'm2');
  const repo = join(project, '.m2/repository');
  buildOnce(project, 'building m2: Debian jars on this machine plus deterministic synthetic jars, in Maven layout', log, () => {
    const artifact = (group: string, name: string, version: string, jar: Buffer): void => {
      const dir = join(repo, ...group.split('.'), name, version);
      mkdirSync(dir, { recursive: true });
      const base = join(dir, `${name}-${version}`);
      const pom = `<project><modelVersion>4.0.0</modelVersion><groupId>${group}</groupId><artifactId>${name}</artifactId><version>${version}</version></project>\n`;
      writeFileSync(`${base}.jar`, jar);
      writeFileSync(`${base}.pom`, pom);
      writeFileSync(`${base}.jar.sha1`, createHash('sha1').update(jar).digest('hex'));
      writeFileSync(`${base}.pom.sha1`, createHash('sha1').update(pom).digest('hex'));
      writeFileSync(join(dir, '_remote.repositories'), `${name}-${version}.jar>central=\n${name}-${version}.pom>central=\n`);
    };
    const debianJars = existsSync('/usr/share/java') ? readdirSync('/usr/share/java').filter((n) => n.endsWith('.jar')) : [];
    for (const jar of debianJars) {
      const match = /^(.*?)-(\d[\w.]*)\.jar$/.exec(jar);
      const file = join('/usr/share/java', jar);
      if (statSync(file).isFile()) artifact('org.debian', match?.[1] ?? jar.slice(0, -4), match?.[2] ?? '0', readFileSync(file));
    }
    // Jars are zip files: already compressed, so their bytes are incompressible.
    for (let i = 0; i < 480; i++) {
      const size = Math.round(40_000 + ((i * 7919) % 97) * 4_000 * (1 + (i % 3)));
      artifact(`com.example.lib${i % 37}`, `component-${i}`, `${1 + (i % 4)}.${i % 10}.${i % 3}`, pseudoRandom(`jar-${i}`, size));
    }
    writeFileSync(join(project, 'pom.xml'), '<project><modelVersion>4.0.0</modelVersion><groupId>bench</groupId><artifactId>m2</artifactId><version>1</version></project>\n');
  });
  return { name: 'm2', project, path: '.m2/repository', npm: false, ...measureTree(repo) };
}

/** Builds a corpus folder from scratch unless a complete one is there already. */
function buildOnce(project: string, message: string, log: (line: string) => void, build: () => void): void {
  if (existsSync(join(project, '.complete'))) return;
  log(message);
  rmSync(project, { recursive: true, force: true });
  mkdirSync(project, { recursive: true });
  build();
  writeFileSync(join(project, '.complete'), '');
}

/** Deterministic incompressible bytes: AES-CTR keystream seeded by a label. */
export function pseudoRandom(label: string, size: number): Buffer {
  const key = createHash('sha256').update(label).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(size));
}

function measureTree(root: string): { files: number; bytes: number } {
  const out = execFileSync('sh', ['-c', `find "${root}" -type f | wc -l; du -sb "${root}" | cut -f1`]).toString().trim().split('\n');
  return { files: Number(out[0]), bytes: Number(out[1]) };
}

