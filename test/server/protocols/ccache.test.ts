import { execFileSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runProcess } from '../../helpers/cli.ts';
import { protocolStats, toolServer, WRITER } from '../../helpers/tool-cache.ts';
import { tempDir } from '../../helpers/tmp.ts';

// The real ccache (Debian's 4.7.5) with larder as its HTTP remote storage, in each of its
// three layouts: a compile that misses and stores, the local cache wiped, a compile
// that hits the remote storage and makes the same object file.

const ccacheSkip = (() => {
  try {
    execFileSync('ccache', ['--version']);
    return false;
  } catch {
    return 'no ccache here (test/run.sh installs it with apt)';
  }
})();

for (const layout of ['subdirs', 'flat', 'bazel'] as const) {
  t.test(`ccache, layout=${layout}: a miss stores, a wiped cache hits larder`, { skip: ccacheSkip }, async (t) => {
    const server = await toolServer(t);
    const dir = tempDir(t, `ccache-${layout}`);
    writeFileSync(join(dir, 'hello.c'), `#include <stdio.h>\nint main(void) { printf("hello from ${layout}\\n"); return 0; }\n`);
    const env = { PATH: process.env.PATH, HOME: dir, CCACHE_DIR: join(dir, 'ccache'), CCACHE_REMOTE_STORAGE: `${server.url}/ccache/team|layout=${layout}|bearer-token=${WRITER}` };
    const compile = async () => {
      const run = await runProcess('ccache', ['gcc', '-c', 'hello.c', '-o', 'hello.o'], { cwd: dir, env });
      t.equal(run.code, 0, 'compiled', { output: run.out });
      const stats = (await runProcess('ccache', ['--print-stats'], { cwd: dir, env })).out;
      const count = (name: string) => Number(new RegExp(`^${name}\\t(\\d+)`, 'm').exec(stats)?.[1] ?? NaN);
      return { remoteHits: count('remote_storage_hit'), remoteMisses: count('remote_storage_miss') };
    };
    t.match(await compile(), { remoteHits: 0, remoteMisses: 1 }, 'the first compile misses the remote storage');
    const object = readFileSync(join(dir, 'hello.o'));
    rmSync(join(dir, 'ccache'), { recursive: true, force: true });
    rmSync(join(dir, 'hello.o'));
    t.match(await compile(), { remoteHits: 1 }, 'a wiped local cache: the remote storage hits');
    t.same(readFileSync(join(dir, 'hello.o')), object, 'the same object file');
    const stats = await protocolStats(server, 'ccache');
    t.ok(stats && stats.hits >= 1 && stats.writes >= 1, `counted per protocol: ${JSON.stringify(stats)}`);
  });
}
