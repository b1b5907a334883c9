import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runProcess } from '../../helpers/cli.ts';
import { protocolStats, toolServer, WRITER } from '../../helpers/tool-cache.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The real Gradle (Debian's 4.4.1) with larder as its HTTP build cache, credentials by
// HTTP Basic (the larder token as the password): compileJava runs and pushes; the build
// folder wiped, compileJava comes FROM-CACHE with the same class file.

const gradleSkip = (() => {
  try {
    execFileSync('gradle', ['--version'], { stdio: 'ignore' });
    return false;
  } catch {
    return 'no gradle here (test/run.sh installs it with apt)';
  }
})();

t.test('gradle compileJava: pushed, then FROM-CACHE after the build folder is wiped', { skip: gradleSkip }, async (t) => {
  const server = await toolServer(t);
  const project = tempDir(t, 'gradle-project');
  mkdirSync(join(project, 'src', 'main', 'java'), { recursive: true });
  writeFileSync(join(project, 'src', 'main', 'java', 'Hello.java'), 'public class Hello { public static void main(String[] a) { System.out.println("hello larder"); } }\n');
  writeFileSync(join(project, 'build.gradle'), "apply plugin: 'java'\n");
  writeFileSync(
    join(project, 'settings.gradle'),
    `rootProject.name = 'demo'\nbuildCache {\n    local { enabled = false }\n    remote(HttpBuildCache) {\n        url = '${server.url}/gradle/team/'\n        push = true\n        credentials { username = 'ci'; password = '${WRITER}' }\n    }\n}\n`,
  );
  const gradle = () => runProcess('gradle', ['--build-cache', '--no-daemon', '--console=plain', '-g', join(project, '.gradle-home'), 'compileJava'], { cwd: project, env: { PATH: process.env.PATH, HOME: project, JAVA_HOME: process.env.JAVA_HOME } });
  const first = await gradle();
  t.equal(first.code, 0, 'built', { output: first.out });
  const classFile = join(project, 'build', 'classes', 'java', 'main', 'Hello.class');
  const compiled = readFileSync(classFile);
  rmSync(join(project, 'build'), { recursive: true });
  rmSync(join(project, '.gradle'), { recursive: true, force: true });
  const second = await gradle();
  t.equal(second.code, 0, 'built again', { output: second.out });
  t.match(second.out, /:compileJava FROM-CACHE/, 'compileJava came from larder');
  t.same(readFileSync(classFile), compiled, 'the same class file');
  const stats = await protocolStats(server, 'gradle');
  t.ok(stats && stats.hits === 1 && stats.writes === 1, `counted per protocol: ${JSON.stringify(stats)}`);
});
