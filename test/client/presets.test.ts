import t from 'tap';
import { expandTemplate } from '../../client/key.ts';
import { presetNamed, PRESETS } from '../../client/presets.ts';
import type { RuntimeFacts } from '../../client/runtime.ts';
import { tempDir } from '../helpers/tmp.ts';

const runtime: RuntimeFacts = { os: 'linux', arch: 'x64', libc: () => 'glibc', node: () => '20', python: () => '3.11', java: () => '17' };

t.test('each preset names its paths, and its restore key is a prefix of its key', async (t) => {
  t.same(PRESETS.npm?.paths, ['node_modules']);
  t.same(PRESETS.pip?.paths, ['.venv']);
  t.same(PRESETS.maven?.paths, ['~/.m2/repository']);
  const cwd = tempDir(t);
  for (const [name, preset] of Object.entries(PRESETS)) {
    const { key } = await expandTemplate(preset.key, { cwd, env: {}, runtime });
    for (const template of preset.restoreKeys) {
      const prefix = (await expandTemplate(template, { cwd, env: {}, runtime }, { prefix: true })).key;
      t.ok(key.startsWith(prefix), `${name}: ${key} starts with ${prefix}`);
    }
  }
});

t.test('an unknown preset is a usage error', async (t) => {
  t.throws(() => presetNamed('gradle'), { code: 'LARDER_USAGE' });
});

t.test('the npm preset knows which commands delete node_modules before they install', async (t) => {
  const rebuilt = PRESETS.npm?.rebuiltBy ?? (() => false);
  for (const command of [['npm', 'ci'], ['/usr/bin/npm', 'ci', '--ignore-scripts'], ['npm', '--silent', 'clean-install'], ['npm', 'ic']]) t.equal(rebuilt(command), true, command.join(' '));
  for (const command of [['npm', 'install'], ['npm', 'i'], ['yarn', 'install', '--frozen-lockfile'], ['pnpm', 'install'], ['sh', '-c', 'npm ci'], ['npm-ci']]) t.equal(rebuilt(command), false, command.join(' '));
  t.equal(PRESETS.pip?.rebuiltBy, undefined, 'pip installs into an existing venv');
  t.equal(PRESETS.maven?.rebuiltBy, undefined, 'Maven adds to an existing repository');
});
