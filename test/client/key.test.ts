import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { expandTemplate } from '../../client/key.ts';
import type { RuntimeFacts } from '../../client/runtime.ts';
import { detectRuntime } from '../../client/runtime.ts';
import { tempDir } from '../helpers/tmp.ts';

const runtime: RuntimeFacts = { os: 'linux', arch: 'x64', libc: () => 'glibc', node: () => '20', python: () => '3.11', java: () => '17' };

t.test('expands platform and toolchain placeholders', async (t) => {
  const cwd = tempDir(t);
  const { key, inputs } = await expandTemplate('deps-{os}-{arch}-{libc}-node{node}-py{python}-java{java}', { cwd, env: {}, runtime });
  t.equal(key, 'deps-linux-x64-glibc-node20-py3.11-java17');
  t.same(inputs, { '{os}': 'linux', '{arch}': 'x64', '{libc}': 'glibc', '{node}': '20', '{python}': '3.11', '{java}': '17' });
});

t.test('{hash:…} covers the matching files, their names and bytes, in a stable order', async (t) => {
  const cwd = tempDir(t);
  writeFileSync(join(cwd, 'package-lock.json'), '{"lockfileVersion":3}');
  mkdirSync(join(cwd, 'packages/a'), { recursive: true });
  writeFileSync(join(cwd, 'packages/a/package-lock.json'), '{}');
  mkdirSync(join(cwd, 'node_modules/dep'), { recursive: true });
  writeFileSync(join(cwd, 'node_modules/dep/package-lock.json'), 'ignored: inside node_modules');
  const template = 'npm-{hash:**/package-lock.json}';
  const first = await expandTemplate(template, { cwd, env: {}, runtime });
  t.match(first.key, /^npm-[0-9a-f]{16}$/);
  t.same(first.hashedFiles[`{hash:**/package-lock.json}`], ['package-lock.json', 'packages/a/package-lock.json']);
  t.equal((await expandTemplate(template, { cwd, env: {}, runtime })).key, first.key, 'stable');
  writeFileSync(join(cwd, 'node_modules/dep/package-lock.json'), 'changed, still ignored');
  t.equal((await expandTemplate(template, { cwd, env: {}, runtime })).key, first.key, 'node_modules is never hashed');
  writeFileSync(join(cwd, 'packages/a/package-lock.json'), '{"changed":true}');
  t.not((await expandTemplate(template, { cwd, env: {}, runtime })).key, first.key, 'a changed lockfile changes the key');
});

t.test('{hash:…} over nothing is still a key, and the files list says so', async (t) => {
  const cwd = tempDir(t);
  const { key, hashedFiles } = await expandTemplate('x-{hash:none.lock}', { cwd, env: {}, runtime });
  t.match(key, /^x-[0-9a-f]{16}$/);
  t.same(hashedFiles['{hash:none.lock}'], []);
});

t.test('{env:NAME} is sanitised into the key alphabet; {root} differs per folder', async (t) => {
  const cwd = tempDir(t);
  const { key } = await expandTemplate('b-{env:BRANCH}', { cwd, env: { BRANCH: 'feature/new thing' }, runtime });
  t.equal(key, 'b-feature_new_thing');
  const a = await expandTemplate('{root}', { cwd, env: {}, runtime });
  const b = await expandTemplate('{root}', { cwd: tempDir(t), env: {}, runtime });
  t.match(a.key, /^[0-9a-f]{8}$/);
  t.not(a.key, b.key);
});

t.test('bad templates are usage errors', async (t) => {
  const cwd = tempDir(t);
  const context = { cwd, env: {}, runtime };
  await t.rejects(expandTemplate('k-{nope}', context), { code: 'LARDER_USAGE' });
  await t.rejects(expandTemplate('k-{hash}', context), { code: 'LARDER_USAGE' });
  await t.rejects(expandTemplate('k-{os', context), { code: 'LARDER_USAGE' });
  await t.rejects(expandTemplate('k/{os}', context), { code: 'LARDER_INVALID_KEY' });
  t.equal((await expandTemplate('npm-{os}-', context, { prefix: true })).key, 'npm-linux-');
});

t.test('the real runtime reports this machine', async (t) => {
  const facts = detectRuntime();
  t.equal(facts.os, process.platform);
  t.equal(facts.arch, process.arch);
  t.match(facts.node(), /^\d+$/);
  t.match(facts.libc(), /^(glibc|musl|none)$/);
});
