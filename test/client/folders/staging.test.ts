import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { createStaging, removeTree, removeTrees } from '../../../client/folders/staging.ts';
import { tempDir } from '../../helpers/tmp.ts';
import { deepTree } from '../../helpers/trees.ts';

/** The id of a process that has ended. */
function deadPid(): number {
  return spawnSync('true').pid as number;
}

t.test('a restore sweeps what killed restores of its target left: staging folders go, a moved-aside target comes back', async (t) => {
  const base = tempDir(t, 'sweep');
  const dead = deadPid();
  mkdirSync(join(base, `.node_modules.larder-${dead}-aaaa0000/pkg`), { recursive: true }); // killed mid-extraction
  mkdirSync(join(base, `.node_modules.larder-${dead}-bbbb1111-old/pkg`), { recursive: true }); // killed between the two renames
  writeFileSync(join(base, `.node_modules.larder-${dead}-bbbb1111-old/pkg/index.js`), 'the old tree');
  mkdirSync(join(base, `.node_modules.larder-${process.pid}-cccc2222`)); // a restore still running
  mkdirSync(join(base, '.venv.larder-1-dddd3333')); // another target's
  const lines: string[] = [];
  const staging = createStaging(join(base, 'node_modules'), (l) => lines.push(l));
  t.equal(readFileSync(join(base, 'node_modules/pkg/index.js'), 'utf8'), 'the old tree', 'the target the killed restore had moved aside is back');
  t.match(lines, [/put back .*node_modules, which a killed restore had moved aside/]);
  t.same(readdirSync(base).sort(), ['.node_modules.larder-' + process.pid + '-cccc2222', staging.dir.slice(base.length + 1), '.venv.larder-1-dddd3333', 'node_modules'].sort(), 'only a live restore\'s folders and other targets\' remain');
});

t.test('what a killed restore in place moved out is removed, never put back as the target', async (t) => {
  const base = tempDir(t, 'sweep-out');
  const dead = deadPid();
  mkdirSync(join(base, `.node_modules.larder-${dead}-eeee4444-out`), { recursive: true });
  writeFileSync(join(base, `.node_modules.larder-${dead}-eeee4444-out/0`), 'a file moved out');
  createStaging(join(base, 'node_modules'));
  t.notOk(existsSync(join(base, 'node_modules')), 'no target made of moved-out files');
  t.notOk(existsSync(join(base, `.node_modules.larder-${dead}-eeee4444-out`)), 'the moved-out folder is gone');
});

t.test('removing a tree copes with read-only folders and great depth', async (t) => {
  const base = tempDir(t, 'remove');
  const root = join(base, 'tree');
  const deep = deepTree(root, 1500);
  mkdirSync(join(root, 'locked/inner'), { recursive: true });
  writeFileSync(join(root, 'locked/inner/file'), 'x');
  chmodSync(join(root, 'locked/inner'), 0o555);
  chmodSync(join(root, 'locked'), 0o500);
  removeTree(root);
  t.equal(existsSync(root), false);
});

t.test('a replaced folder that cannot be removed is a warning', { skip: chattrSkip() }, async (t) => {
  const base = tempDir(t, 'stuck');
  mkdirSync(join(base, 'old/pkg'), { recursive: true });
  writeFileSync(join(base, 'old/pkg/immutable'), 'x');
  execFileSync('chattr', ['+i', join(base, 'old/pkg/immutable')]);
  t.teardown(() => execFileSync('chattr', ['-i', join(base, 'old/pkg/immutable')]));
  const lines: string[] = [];
  removeTrees([join(base, 'old')], (l) => lines.push(l));
  t.match(lines, [/the folder it replaced could not be removed \(EPERM\); remove .*old by hand/]);
});

function chattrSkip(): string | false {
  if (spawnSync('sh', ['-c', 'command -v chattr']).status !== 0) return 'no chattr here (e2fsprogs)';
  return process.getuid?.() === 0 ? false : 'chattr +i needs root';
}
