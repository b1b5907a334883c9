import t from 'tap';
import { checkTokensFile, TokenTable } from '../../../server/auth/access.ts';

const hash = TokenTable.hash('x');

t.test('namespace patterns and key prefixes', async (t) => {
  const table = new TokenTable({ tokens: [{ name: 'n', sha256: hash, grants: [{ namespaces: 'acme-*', access: 'read-write', keyPrefixes: ['pr-', 'dev-'] }] }] });
  const access = table.find('x');
  t.ok(access);
  t.ok(access?.canWrite('acme-web', 'pr-1'));
  t.ok(access?.canWrite('acme-web', 'dev-1'));
  t.notOk(access?.canWrite('acme-web', 'main-1'));
  t.notOk(access?.canRead('acme-web', 'main-1'));
  t.ok(access?.canRead('acme-web'), 'the namespace itself (blobs)');
  t.notOk(access?.canRead('acmeweb'), 'the pattern is anchored');
  t.notOk(access?.canRead('other-acme-web'));
  t.equal(table.find('y'), undefined);
});

t.test('tokens files are checked; the token itself is never stored', async (t) => {
  t.ok(checkTokensFile({ tokens: [{ name: 'a', sha256: hash, admin: true }] }));
  const bad: Array<[unknown, RegExp]> = [
    [{}, /expected/],
    [{ tokens: [{ name: 'a', sha256: 'plain-token-value', admin: true }] }, /64 hex digits/],
    [{ tokens: [{ name: 'a', sha256: hash }] }, /grants nothing/],
    [{ tokens: [{ name: 'a', sha256: hash, grants: [{ namespaces: 'Acme/*', access: 'read' }] }] }, /namespaces/],
    [{ tokens: [{ name: 'a', sha256: hash, grants: [{ namespaces: 'acme', access: 'write' }] }] }, /access/],
    [{ tokens: [{ name: 'a', sha256: hash, grants: [{ namespaces: 'acme', access: 'read', keyPrefixes: ['a/b'] }] }] }, /keyPrefixes/],
    [{ tokens: [{ name: 'a', sha256: hash, admin: true }, { name: 'b', sha256: hash, admin: true }] }, /twice/],
    [{ tokens: [{ name: 'a', sha256: hash, admin: true }], quotas: { Web: '5G' } }, /quotas: "Web" is not a namespace name/],
    [{ tokens: [{ name: 'a', sha256: hash, admin: true }], quotas: { web: 'five gigs' } }, /quotas.web five gigs: expected a size/],
    [{ tokens: [{ name: 'a', sha256: hash, admin: true }], quotas: ['web'] }, /quotas must be/],
  ];
  t.same(checkTokensFile({ tokens: [{ name: 'a', sha256: hash, admin: true }], quotas: { web: '50G' } }).quotas, { web: '50G' }, 'per-namespace quotas');
  for (const [file, message] of bad) t.throws(() => checkTokensFile(file), { code: 'LARDER_USAGE', message }, JSON.stringify(file).slice(0, 80));
});

t.test('the example tokens file in docs/ is one the server takes', async (t) => {
  const { readFileSync } = await import('node:fs');
  const example = JSON.parse(readFileSync(new URL('../../../docs/tokens.example.json', import.meta.url), 'utf8')) as unknown;
  const file = checkTokensFile(example);
  t.equal(file.tokens.length, 4);
  t.equal(file.oidc?.length, 2);
  const table = new TokenTable(file);
  t.equal(table.find(''), undefined, 'its placeholder hashes match no token');
});
