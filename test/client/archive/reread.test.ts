import { randomBytes } from 'node:crypto';
import { appendFileSync, mkdirSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { lateSocket } from '../../helpers/late-socket.ts';
import t from 'tap';
import { StoredFrameAgain } from '../../../client/archive/reread.ts';
import { storedFrame } from '../../../client/archive/stored.ts';
import { tarBuffer } from '../../../client/archive/tar-write.ts';
import { walkTree } from '../../../client/archive/tree.ts';
import { tempDir } from '../../helpers/tmp.ts';

// A stored part's upload reads its files again into two chunks that take turns, each
// read into only once the socket has taken what was written from it two chunks before.

function jars(t: Parameters<typeof tempDir>[0]): string {
  const root = tempDir(t);
  mkdirSync(join(root, 'org/lib/1.0'), { recursive: true });
  for (const [name, size] of [['a.jar', 700_000], ['b.jar', 1_300_007], ['empty.txt', 0], ['c.jar', 2_200_000], ['c.jar.sha1', 40]] as const) {
    writeFileSync(join(root, 'org/lib/1.0', name), randomBytes(size));
  }
  return root;
}

t.test('the frame made again from the files is the stored frame of their tar, send after send', async (t) => {
  const root = jars(t);
  const { entries } = walkTree(root);
  const tar = tarBuffer(root, entries);
  t.ok(tar.length > 4 * 1024 * 1024, 'several chunks of tar');
  for (let i = 0; i < 3; i++) {
    const { to, received } = lateSocket();
    await new StoredFrameAgain(root, entries, tar.length).sendTo(to);
    t.ok(received().equals(storedFrame(tar)), `send ${i + 1}: the same bytes`);
  }
});

t.test('a file changed since the walk fails the send with LARDER_PATH_CHANGED, and no file is left open', async (t) => {
  const root = jars(t);
  const { entries } = walkTree(root);
  const size = tarBuffer(root, entries).length;
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  const grown = join(root, 'org/lib/1.0/b.jar');
  appendFileSync(grown, 'more');
  await t.rejects(new StoredFrameAgain(root, entries, size).sendTo(lateSocket().to), { code: 'LARDER_PATH_CHANGED', message: /b\.jar changed while it was being saved/ }, 'grown');
  t.equal(open(), before, 'the file it was reading is closed');
  const rewritten = join(root, 'org/lib/1.0/c.jar');
  const { entries: again } = walkTree(root);
  const sizeAgain = tarBuffer(root, again).length;
  writeFileSync(rewritten, randomBytes(statSync(rewritten).size));
  utimesSync(rewritten, new Date(), new Date(Date.now() + 5000));
  await t.rejects(new StoredFrameAgain(root, again, sizeAgain).sendTo(lateSocket().to), { code: 'LARDER_PATH_CHANGED', message: /c\.jar changed .*rewritten/ }, 'rewritten, at the same size');
  t.equal(open(), before, 'closed again');
});

t.test('a socket that fails mid-send fails it with the socket\'s error, and no file is left open', async (t) => {
  const root = jars(t);
  const { entries } = walkTree(root);
  const open = () => readdirSync('/proc/self/fd').length;
  const before = open();
  const broken = new Error('connection reset');
  const { to } = lateSocket((n) => (n > 3 ? broken : undefined));
  await t.rejects(new StoredFrameAgain(root, entries, tarBuffer(root, entries).length).sendTo(to), broken);
  t.equal(open(), before, 'the file it was reading halfway is closed');
});
