import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pseudoRandom } from '../../bench/corpora.ts';
import { runLarder } from '../helpers/cli.ts';
import { startServer } from '../helpers/server.ts';
import { tempDir } from '../helpers/tmp.ts';
import { mountTmpfs, tmpfsSkip } from '../helpers/external/tmpfs.ts';

// The disk a restore writes to fills up, or refuses writes: one clear line with its own
// code, no stack trace, and the target left as it was.

t.test('a full target disk is LARDER_DISK_FULL, and the target is as it was', { skip: tmpfsSkip }, async (t) => {
  const { url } = await startServer(t);
  const project = tempDir(t, 'source');
  mkdirSync(join(project, 'deps'));
  for (let i = 0; i < 4; i++) writeFileSync(join(project, 'deps', `lib-${i}.bin`), pseudoRandom(`disk-${i}`, 2 * 1024 * 1024));
  t.match(JSON.parse((await runLarder(['save', '--key', 'k', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: url } })).stdout), { outcome: 'saved' });

  const small = mountTmpfs(t, 3 * 1024 * 1024);
  mkdirSync(join(small, 'deps'));
  writeFileSync(join(small, 'deps', 'old.js'), 'the previous tree');
  const restored = await runLarder(['restore', '--key', 'k', '--path', 'deps', '--json'], { cwd: small, env: { LARDER_SERVER: url, HOME: tempDir(t, 'home') } });
  t.equal(restored.code, 0);
  t.match(JSON.parse(restored.stdout), { outcome: 'error', error: { code: 'LARDER_DISK_FULL', message: /no space left on the disk of \/tmp\/tmpfs-\w+ \(ENOSPC\); free space there/ } });
  t.notMatch(restored.stderr, /\n\s+at /, 'no stack trace');
  t.same(readdirSync(small).sort(), ['deps'], 'no staging folder left');
  t.same(readdirSync(join(small, 'deps')), ['old.js'], 'the target is as it was');
});
