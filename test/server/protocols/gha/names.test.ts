import t from 'tap';
import { entryName, prefixName, tierKey } from '../../../../server/protocols/gha/names.ts';
import { KEY_PATTERN } from '../../../../shared/wire/names.ts';

t.test('a key becomes a larder name that keeps every restore key a prefix', async (t) => {
  const keys = ['Linux-node-20-npm-0f3a', 'setup-java-Linux-maven-é/ü ~ key', 'a'.repeat(512), `${'x'.repeat(170)}€${'y'.repeat(300)}`];
  for (const key of keys) {
    const name = entryName(key, 'v1');
    t.ok(KEY_PATTERN.test(name), `${key.slice(0, 30)}…: a valid larder key (${name.length} characters)`);
    for (const cut of [1, 10, 100, 179, 200, key.length]) {
      const prefix = key.slice(0, cut);
      t.ok(name.startsWith(prefixName(prefix, 'v1')), `its first ${cut} characters list it`);
    }
    t.notOk(name.startsWith(prefixName(key, 'v2')), 'another version does not');
  }
  t.equal(entryName('plain-key_1.2', 'v'), `${prefixName('', 'v')}plain-key_1.2`, 'a plain key is itself');
  t.not(entryName('a b', 'v'), entryName('a=20b', 'v'), 'an escape and its spelling out differ');
  t.not(entryName('a'.repeat(400), 'v'), entryName(`${'a'.repeat(399)}b`, 'v'), 'two long keys alike in their first 180 characters differ');
  t.equal(tierKey(entryName('pr-12-deps', 'v')), 'pr-12-deps', 'trust tiers see the key');
});
