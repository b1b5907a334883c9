import t from 'tap';
import { Access, compileGrant } from '../../../server/auth/access.ts';
import { namespaceFor } from '../../../server/protocols/namespace.ts';

t.test('a token\'s caches live in its one namespace, else in the protocol\'s own', async (t) => {
  const access = (...namespaces: string[]) => new Access('n', false, namespaces.map((n) => compileGrant({ namespaces: n, access: 'read-write' })));
  t.equal(namespaceFor(access('web'), 'gha'), 'web');
  t.equal(namespaceFor(access('web', 'web'), 'gha'), 'web');
  t.equal(namespaceFor(access('web', 'api'), 'gha'), 'gha');
  t.equal(namespaceFor(access('team-*'), 'gha'), 'gha');
  t.equal(namespaceFor(Access.all('open'), 'gha'), 'gha');
});
