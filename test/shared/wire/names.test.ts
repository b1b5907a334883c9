import t from 'tap';
import { checkKey, checkKeyPrefix, checkNamespace } from '../../../shared/wire/names.ts';

t.test('namespaces', async (t) => {
  for (const ok of ['acme-payments', 'a', 'team.1_x', '0'.repeat(64)]) t.equal(checkNamespace(ok), ok);
  for (const bad of ['', 'Acme', '-lead', '.hidden', 'a/b', 'a'.repeat(65), '..']) t.throws(() => checkNamespace(bad), { code: 'LARDER_INVALID_NAMESPACE' }, bad);
});

t.test('keys and prefixes', async (t) => {
  for (const ok of ['npm-linux-x64-node20-3f9a', 'a+b=c,d@e', '..', 'k'.repeat(250)]) t.equal(checkKey(ok), ok);
  for (const bad of ['', 'a/b', 'a b', 'k'.repeat(251), 'ключ', 'a\0b']) t.throws(() => checkKey(bad), { code: 'LARDER_INVALID_KEY' }, bad);
  t.equal(checkKeyPrefix(''), '');
  t.throws(() => checkKeyPrefix('x/'), { code: 'LARDER_INVALID_KEY' });
});
