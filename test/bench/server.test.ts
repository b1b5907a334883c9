import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { replayBlobs, startBareReceiver, startServer } from '../../bench/server.ts';
import { tempDir } from '../helpers/tmp.ts';

const digestOf = (bytes: Buffer): string => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

t.test('the bare receiver writes what it is sent and checks its digest', async (t) => {
  const dir = tempDir(t, 'bare');
  const bare = await startBareReceiver(dir);
  t.teardown(bare.stop);
  const blob = randomBytes(3 * 1024 * 1024 + 17); // more than one batch of writes
  const right = await fetch(`${bare.url}/blobs/${digestOf(blob)}`, { method: 'PUT', body: blob });
  t.equal(right.status, 201);
  const wrong = await fetch(`${bare.url}/blobs/${digestOf(Buffer.from('other bytes'))}`, { method: 'PUT', body: blob });
  t.equal(wrong.status, 400, 'bytes that do not hash to the digest are refused');
  const written = readdirSync(dir).map((name) => readFileSync(join(dir, name)));
  t.equal(written.length, 2);
  t.ok(written.every((bytes) => bytes.equals(blob)), 'each body lands whole in a file of its own');
});

t.test('replayBlobs sends a real server namespace’s blobs to the bare receiver', async (t) => {
  const store = tempDir(t, 'store');
  const received = tempDir(t, 'received');
  const server = await startServer(store);
  t.teardown(server.stop);
  const bare = await startBareReceiver(received);
  t.teardown(bare.stop);
  const blobs = [randomBytes(1000), randomBytes(2 * 1024 * 1024), Buffer.from('a small one')];
  for (const blob of blobs) {
    const put = await fetch(`${server.url}/v1/ns/replayed/blobs/${digestOf(blob)}`, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
    t.equal(put.status, 201);
  }
  const sent = await replayBlobs(store, 'replayed', bare.url, 2);
  t.equal(sent, blobs.reduce((sum, b) => sum + b.length, 0), 'every byte of the namespace, once');
  const got = readdirSync(received).map((name) => digestOf(readFileSync(join(received, name))));
  t.same(got.sort(), blobs.map(digestOf).sort(), 'the same blobs arrive');
});
