import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import t from 'tap';
import { tempDir } from '../helpers/tmp.ts';

// On a Node too old for larder (the machine's own, often), the bin shims must never
// break a build: a warning and exit 0, --strict exits 1, `larder run` still runs its
// command, and the server refuses to start with the reason.

const OLD_NODE = ['/usr/bin/node', '/usr/local/bin/node'].find((node) => {
  const version = spawnSync(node, ['-p', 'process.versions.node'], { encoding: 'utf8' }).stdout?.trim() ?? '';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  return version !== '' && (major < 22 || (major === 22 && minor < 18));
});
const bin = (name: string): string => fileURLToPath(new URL(`../../bin/${name}`, import.meta.url));
const skip = OLD_NODE ? false : 'no Node older than 22.18 on this machine';

t.test('larder on an old Node warns and gets out of the way', { skip }, async (t) => {
  const cwd = tempDir(t);
  const run = (args: string[]) => spawnSync(OLD_NODE as string, [bin('larder.js'), ...args], { cwd, encoding: 'utf8' });
  const restore = run(['restore', '--preset', 'npm']);
  t.equal(restore.status, 0);
  t.match(restore.stderr, /needs Node >= 22\.18 .*continuing without the cache/);
  t.equal(run(['restore', '--preset', 'npm', '--strict']).status, 1);
  const cmd = run(['run', '--preset', 'npm', '--', 'sh', '-c', 'echo ran; exit 7']);
  t.equal(cmd.status, 7, "the command's own status");
  t.match(cmd.stdout, /ran/);
  const server = spawnSync(OLD_NODE as string, [bin('larder-server.js')], { cwd, encoding: 'utf8' });
  t.equal(server.status, 1);
  t.match(server.stderr, /larder-server: needs Node >= 22\.18/);
});
