import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import t from 'tap';
import { checkDigest, digestHex, sha256Digest, VerifyingStream } from '../../../shared/wire/digest.ts';

const hello = sha256Digest(Buffer.from('hello'));

t.test('sha256 digests are named and checked', async (t) => {
  t.equal(hello, 'sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824');
  t.equal(digestHex(hello), hello.slice(7));
  for (const bad of ['sha256:ABC', 'md5:00', `sha256:${'0'.repeat(63)}`, `sha256:${'g'.repeat(64)}`, '']) {
    t.throws(() => checkDigest(bad), { code: 'LARDER_INVALID_DIGEST' }, bad);
  }
});

t.test('VerifyingStream passes matching bytes and fails on mismatch, short and long bodies', async (t) => {
  const run = (chunks: string[], digest: string, size?: number) => pipeline(Readable.from(chunks.map((c) => Buffer.from(c))), new VerifyingStream(digest, size), async function* (source) {
    for await (const _ of source);
  });
  await t.resolves(run(['hel', 'lo'], hello, 5));
  await t.rejects(run(['hellO'], hello, 5), { code: 'LARDER_DIGEST_MISMATCH' });
  await t.rejects(run(['hell'], hello, 5), { code: 'LARDER_INCOMPLETE_BODY' });
  await t.rejects(run(['hello!'], hello, 5), { code: 'LARDER_INCOMPLETE_BODY' });
  const integrity = pipeline(Readable.from([Buffer.from('x')]), new VerifyingStream(hello, undefined, 'LARDER_INTEGRITY'), async function* (s) {
    for await (const _ of s);
  });
  await t.rejects(integrity, { code: 'LARDER_INTEGRITY' });
});
