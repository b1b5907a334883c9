import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { pseudoRandom } from '../../bench/corpora.ts';
import { runLarder } from '../helpers/cli.ts';
import { spawnServer } from '../helpers/server-process.ts';
import { tempDir } from '../helpers/tmp.ts';
import { mountTmpfs, tmpfsSkip } from '../helpers/external/tmpfs.ts';

// The store's disk fills up during a save. The server must answer at once with a clear
// code and close the connection (the body it stopped reading would otherwise hold the
// client's socket until a timeout), and the client must give up quickly with one line.

t.test('a full store disk: the save gives up in seconds with LARDER_STORE_FULL and publishes nothing', { skip: tmpfsSkip }, async (t) => {
  const store = mountTmpfs(t, 3 * 1024 * 1024);
  const server = await spawnServer(t, ['--store', store]);
  const project = tempDir(t, 'project');
  mkdirSync(join(project, 'deps'));
  for (let i = 0; i < 6; i++) writeFileSync(join(project, 'deps', `blob-${i}.bin`), pseudoRandom(`full-${i}`, 3 * 1024 * 1024)); // incompressible
  const started = performance.now();
  const saved = await runLarder(['save', '--key', 'k', '--path', 'deps', '--json'], { cwd: project, env: { LARDER_SERVER: server.url } });
  const seconds = (performance.now() - started) / 1000;
  t.equal(saved.code, 0, 'a cache failure never fails the build');
  t.match(JSON.parse(saved.stdout), { outcome: 'error', error: { code: 'LARDER_STORE_FULL' } });
  t.match(saved.stderr, /larder save: warning: LARDER_STORE_FULL: .*disk store is full/);
  t.notMatch(saved.stderr, /\n\s+at /, 'no stack trace');
  t.ok(seconds < 30, `gave up in ${seconds.toFixed(1)} s (a minute or more before)`);
  const lookup = await fetch(`${server.url}/v1/ns/default/entries/k`);
  t.equal(lookup.status, 404, 'no entry was published');
  const ready = await fetch(`${server.url}/readyz`);
  t.equal(ready.status, 507, 'not ready while its disk is full');
  t.match(await ready.json(), { code: 'LARDER_STORE_FULL' });
});
