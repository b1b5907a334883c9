import { execFileSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';

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

// Debian's Java libraries, for the m2 corpus: real jars (and the real poms Debian keeps
// beside them in Maven's layout, /usr/share/maven-repo), of many sizes and makers.
const JAVA_LIBRARIES = [
  'libspring-core-java', 'libspring-beans-java', 'libspring-context-java', 'libspring-web-java', 'libnetty-java', 'libjetty9-java',
  'libbatik-java', 'libicu4j-java', 'libbcprov-java', 'libderby-java', 'libtomcat9-java', 'libhsqldb-java', 'libsaxonhe-java',
  'libxalan2-java', 'libjna-java', 'libasm-java', 'libbyte-buddy-java', 'libmockito-java', 'libjsoup-java', 'libcommons-math3-java',
  'libjoda-time-java', 'libhibernate-validator-java', 'libxmlgraphics-commons-java', 'libpdfbox2-java', 'liblucene4.10-java',
  'libgoogle-gson-java', 'libslf4j-java', 'liblog4j2-java', 'libjackson2-databind-java', 'libantlr4-runtime-java',
  'libcommons-compress-java', 'libhttpclient-java', 'libjaxb-api-java', 'libguava-java',
  // Gradle's own libraries land in /usr/share/maven-repo too, and the test suite installs
  // it: without it here, a corpus built before the first test run had 1,846 files and
  // 147 MB, one built after it 2,799 files and 220 MB.
  'gradle',
];
const MAVEN_REPO = '/usr/share/maven-repo';

/**
 * ~/.m2/repository as Maven leaves it, of real artifacts only: every group/artifact/version
 * Debian's Java libraries put in /usr/share/maven-repo (their own "debian" versions left
 * out), with the jar and pom, their .sha1 files and _remote.repositories.
 */
function m2Corpus(cache: string, log: (line: string) => void): Corpus {
  const project = join(cache, 'm2-debian');
  const repo = join(project, '.m2/repository');
  buildOnce(project, 'building m2: real jars and poms of Debian\'s Java libraries, in Maven\'s layout', log, () => {
    installJavaLibraries(log);
    const versions = execFileSync('find', ['-L', MAVEN_REPO, '-name', '*.pom', '-not', '-path', '*/debian/*']).toString().trim().split('\n').filter(Boolean);
    let jars = 0;
    // Debian points several artifacts (relocations, other versions) at one jar; a real
    // repository holds each version's own bytes, so a jar already copied is not copied again.
    const seen = new Set<string>();
    for (const pom of versions.sort()) {
      const dir = dirname(pom);
      const rel = relative(MAVEN_REPO, dir);
      const files = readdirSync(dir).filter((n) => (n.endsWith('.pom') || n.endsWith('.jar')) && existsSync(join(dir, n))); // a link may point to a jar another package would install
      const jar = files.find((n) => n.endsWith('.jar'));
      const jarHash = jar && createHash('sha1').update(readFileSync(join(dir, jar))).digest('hex');
      if (jarHash && seen.has(jarHash)) continue;
      if (jarHash) seen.add(jarHash);
      mkdirSync(join(repo, rel), { recursive: true });
      const names: string[] = [];
      for (const name of files) {
        const from = join(dir, name);
        const bytes = readFileSync(from);
        writeFileSync(join(repo, rel, name), bytes);
        writeFileSync(join(repo, rel, `${name}.sha1`), createHash('sha1').update(bytes).digest('hex'));
        names.push(name);
        if (name.endsWith('.jar')) jars++;
      }
      writeFileSync(join(repo, rel, '_remote.repositories'), names.map((n) => `${n}>central=\n`).join(''));
    }
    if (jars < 200) log(`m2 holds only ${jars} jars: run the benchmark as root once, so it can install Debian's Java libraries`);
    writeFileSync(join(project, 'pom.xml'), '<project><modelVersion>4.0.0</modelVersion><groupId>bench</groupId><artifactId>m2</artifactId><version>1</version></project>\n');
  });
  return { name: 'm2', project, path: '.m2/repository', npm: false, ...measureTree(repo) };
}

/** Installs JAVA_LIBRARIES with apt when it can (root); otherwise the corpus makes do with what is installed. */
function installJavaLibraries(log: (line: string) => void): void {
  if (process.getuid?.() !== 0) return;
  log(`installing ${JAVA_LIBRARIES.length} of Debian's Java libraries (apt) for the m2 corpus`);
  const apt = (args: string[]) => execFileSync('apt-get', ['-qq', '-o', 'DPkg::Lock::Timeout=300', ...args], { stdio: ['ignore', 'ignore', 'inherit'], env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
  try {
    apt(['update']);
    apt(['install', '-y', '--no-install-recommends', ...JAVA_LIBRARIES]);
  } catch (err) {
    log(`could not install them (${(err as Error).message.split('\n')[0]}); using the Java libraries already installed`);
  }
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

