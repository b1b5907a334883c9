import { createHash } from 'node:crypto';
import { request } from 'node:http';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pseudoRandom } from './corpora.ts';
import { watchRss } from './measure.ts';
import { startServer } from './server.ts';

// The server's peak RSS while several clients each stream a big blob to it at once,
// against its RSS when idle. Blob bytes are generated twice (once for the digest, once
// while sending), so no client holds a blob in memory either.

const CHUNK = 4 * 1024 * 1024;

function* blobChunks(label: string, size: number): Generator<Buffer> {
  for (let off = 0, i = 0; off < size; off += CHUNK, i++) yield pseudoRandom(`${label}-${i}`, Math.min(CHUNK, size - off));
}

function digestOf(label: string, size: number): string {
  const hash = createHash('sha256');
  for (const chunk of blobChunks(label, size)) hash.update(chunk);
  return `sha256:${hash.digest('hex')}`;
}

export async function serverMemory(store: string, clients: number, bytesEach: number): Promise<{ idleRss: number; peakRss: number; seconds: number; clients: number; bytesEach: number }> {
  const digests = Array.from({ length: clients }, (_, i) => digestOf(`client-${i}`, bytesEach));
  const server = await startServer(store);
  await new Promise((r) => setTimeout(r, 500));
  const idle = watchRss(server.child).stop();
  const watch = watchRss(server.child);
  const started = performance.now();
  await Promise.all(
    digests.map(async (digest, i) => {
      const url = new URL(`/v1/ns/bench/blobs/${digest}`, server.url);
      const req = request(url, { method: 'PUT', headers: { 'content-type': 'application/octet-stream', 'content-length': String(bytesEach) } });
      const answered = new Promise<number>((resolve, reject) => {
        req.once('response', (res) => (res.resume(), resolve(res.statusCode ?? 0)));
        req.once('error', reject);
      });
      await pipeline(Readable.from(blobChunks(`client-${i}`, bytesEach)), req);
      const status = await answered;
      if (status !== 201) throw new Error(`upload ${i} answered ${status}`);
    }),
  );
  const seconds = (performance.now() - started) / 1000;
  const peakRss = watch.stop();
  await server.stop();
  return { idleRss: idle, peakRss, seconds, clients, bytesEach };
}
