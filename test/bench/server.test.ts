import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import t from 'tap';
import { sha256Digest } from '../../shared/wire/digest.ts';
import { replayBlobs, startBareReceiver, startServer, toBareReceiver, toLarderServer } from '../../bench/server.ts';
import { tempDir } from '../helpers/tmp.ts';


t.test('the bare receiver writes what it is sent and checks its digest', async (t) => {
  const dir = tempDir(t, 'bare');
  const bare = await startBareReceiver(dir);
  t.teardown(bare.stop);
  const blob = randomBytes(3 * 1024 * 1024 + 17); // more than one batch of writes
  const right = await fetch(`${bare.url}/blobs/${sha256Digest(blob)}`, { method: 'PUT', body: blob });
  t.equal(right.status, 201);
  const wrong = await fetch(`${bare.url}/blobs/${sha256Digest(Buffer.from('other bytes'))}`, { method: 'PUT', body: blob });
  t.equal(wrong.status, 400, 'bytes that do not hash to the digest are refused');
  const written = readdirSync(dir).map((name) => readFileSync(join(dir, name)));
  t.equal(written.length, 2);
  t.ok(written.every((bytes) => bytes.equals(blob)), 'each body lands whole in a file of its own');
});

t.test('replayBlobs sends a real server namespace’s blobs to the bare receiver, and to a larder server as a save does', async (t) => {
  const store = tempDir(t, 'store');
  const received = tempDir(t, 'received');
  const server = await startServer(store);
  t.teardown(server.stop);
  const bare = await startBareReceiver(received);
  t.teardown(bare.stop);
  const blobs = [randomBytes(1000), randomBytes(2 * 1024 * 1024), Buffer.from('a small one')];
  for (const blob of blobs) {
    const put = await fetch(`${server.url}/v1/ns/replayed/blobs/${sha256Digest(blob)}`, { method: 'PUT', body: blob, headers: { 'content-type': 'application/octet-stream' } });
    t.equal(put.status, 201);
  }
  const sent = await replayBlobs(store, 'replayed', 2, toBareReceiver(bare.url));
  t.equal(sent, blobs.reduce((sum, b) => sum + b.length, 0), 'every byte of the namespace, once');
  const got = readdirSync(received).map((name) => sha256Digest(readFileSync(join(received, name))));
  t.same(got.sort(), blobs.map((blob) => sha256Digest(blob)).sort(), 'the same blobs arrive');

  // To the larder server, as a save sends them: asked about first, uploaded when missing.
  type Counts = { bytesIn?: number; blobsUploaded?: number; blobsPresent?: number };
  const counts = async (ns: string): Promise<Counts> => ((await (await fetch(`${server.url}/v1/stats`)).json()) as { namespaces: Record<string, Counts> }).namespaces[ns] ?? {};
  await replayBlobs(store, 'replayed', 2, toLarderServer(server.url, 'again'));
  t.match(await counts('again'), { bytesIn: sent, blobsUploaded: 3, blobsPresent: 0 }, 'a new namespace takes every blob');
  // Uploads of every namespace, whatever their answer, as the server's metrics count them.
  const uploads = async (): Promise<number> =>
    (await (await fetch(`${server.url}/metrics`)).text())
      .split('\n')
      .filter((line) => line.startsWith('larder_http_request_duration_seconds_count{') && line.includes('route="/v1/ns/:ns/blobs/:digest"') && line.includes('method="PUT"'))
      .reduce((sum, line) => sum + Number(line.split(' ').pop()), 0);
  t.equal(await uploads(), 6, 'three blobs into each of two namespaces');
  await replayBlobs(store, 'replayed', 2, toLarderServer(server.url, 'again'));
  t.match(await counts('again'), { bytesIn: sent, blobsUploaded: 3, blobsPresent: 3 }, 'sent again, each is asked about');
  t.equal(await uploads(), 6, 'and none is uploaded twice');
});
