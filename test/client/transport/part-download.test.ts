import { randomBytes } from 'node:crypto';
import t from 'tap';
import { SpareMemory } from '../../../client/spare-memory.ts';
import { downloadPart } from '../../../client/transport/part-download.ts';
import { CacheClient } from '../../../client/transport/transfer.ts';
import { sha256Digest } from '../../../shared/wire/digest.ts';
import type { PartRef } from '../../../shared/wire/manifest.ts';
import { startServer } from '../../helpers/server.ts';

// A restore's part, from a real larder server: read straight into the part's memory over
// plain HTTP, and what the server says of a blob it lacks or holds at another size comes
// through the ordinary path unchanged.

/** Counts the ordinary path's GETs (node:http, transfer.ts). */
function countOrdinary(client: CacheClient): () => number {
  const ordinary = client.getBlob.bind(client);
  let calls = 0;
  client.getBlob = (digest: string) => (calls++, ordinary(digest));
  return () => calls;
}

function partOf(bytes: Buffer): PartRef {
  return { digest: sha256Digest(bytes), size: bytes.length, rawSize: bytes.length, entries: 1 };
}

t.test('parts arrive byte for byte, in the memory they are given, and go on arriving over kept connections', async (t) => {
  const { url } = await startServer(t);
  const client = new CacheClient({ server: url, namespace: 'team' });
  t.teardown(() => client.close());
  const ordinary = countOrdinary(client);
  const blobs = [randomBytes(5 * 1024 * 1024 + 3), randomBytes(10), Buffer.alloc(0)];
  for (const blob of blobs) await client.putBlob(sha256Digest(blob), blob.length, () => blob);
  const memory = new SpareMemory(4);
  const spare = new ArrayBuffer(8 * 1024 * 1024);
  memory.give(spare);
  const first = await downloadPart(client, partOf(blobs[0] as Buffer), memory);
  t.ok(first.equals(blobs[0] as Buffer), 'the big part');
  t.equal(first.buffer, spare, 'read into the spare memory given');
  for (let i = 0; i < 3; i++) for (const blob of blobs) t.ok((await downloadPart(client, partOf(blob))).equals(blob), `${blob.length} bytes, round ${i + 1}`);
  t.equal(ordinary(), 0, 'none went the ordinary way');
});

t.test('a blob the server lacks, or holds at another size, gets the ordinary path\'s answer', async (t) => {
  const { url } = await startServer(t);
  const client = new CacheClient({ server: url, namespace: 'team' });
  t.teardown(() => client.close());
  const ordinary = countOrdinary(client);
  await t.rejects(downloadPart(client, partOf(Buffer.from('never stored'))), { code: 'LARDER_BLOB_NOT_FOUND' });
  t.equal(ordinary(), 1, 'asked again the ordinary way, which says what is wrong');
  const blob = Buffer.from('stored part');
  await client.putBlob(sha256Digest(blob), blob.length, () => blob);
  t.equal(await client.getBlobInto(sha256Digest(blob), blob.length + 1, Buffer.alloc), undefined, 'another length is not read directly');
  await t.rejects(downloadPart(client, { ...partOf(blob), size: blob.length - 1 }), { code: 'LARDER_INTEGRITY' }, 'longer than the manifest says');
});
