import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { runLarder } from '../../helpers/cli.ts';
import { tempDir } from '../../helpers/tmp.ts';

// Trust tiers in keys: the tier's prefix goes before the key and every restore key; a
// trusted tier to fall back to comes after, its key of the same inputs first.

t.test('--key-prefix and --fallback-prefix order the lookups: own tier, same inputs in the trusted tier, then its restore keys', async (t) => {
  const project = tempDir(t, 'tiers');
  writeFileSync(join(project, 'package-lock.json'), '{}');
  const key = async (env: Record<string, string>, ...args: string[]) => {
    const res = await runLarder(['key', '--key', 'npm-{hash:package-lock.json}', '--restore-key', 'npm-', '--json', ...args], { cwd: project, env });
    t.equal(res.code, 0, res.stderr);
    const { key: k, restoreKeys } = JSON.parse(res.stdout) as { key: string; restoreKeys: string[] };
    return { key: k, restoreKeys };
  };
  const plain = await key({});
  const hash = plain.key.slice('npm-'.length);
  t.same(plain.restoreKeys, ['npm-']);
  t.same(await key({ LARDER_KEY_PREFIX: 'pr-7-', LARDER_FALLBACK_PREFIX: 'main-' }), { key: `pr-7-npm-${hash}`, restoreKeys: [`main-npm-${hash}`, 'pr-7-npm-', 'main-npm-'] }, 'from the environment');
  t.same(await key({}, '--key-prefix', 'main-', '--fallback-prefix', 'main-'), { key: `main-npm-${hash}`, restoreKeys: ['main-npm-'] }, 'the trusted tier itself has nothing to fall back to');
  const bad = await runLarder(['key', '--key', 'npm', '--key-prefix', 'pr 7'], { cwd: project });
  t.equal(bad.code, 2, 'a prefix outside the key alphabet is a usage error');
  t.match(bad.stderr, /LARDER_INVALID_KEY/);
});
