import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CacheClient } from '../client/transport/transfer.ts';
import { mapLimit } from '../shared/concurrency.ts';

const SERVER_BIN = fileURLToPath(new URL('../bin/larder-server.js', import.meta.url));

export interface BenchServer {
  url: string;
  child: ChildProcess;
  stop: () => Promise<void>;
}

/** A real larder-server process on a free port with its own store (a folder, or s3:// with the flags it needs). */
export function startServer(store: string, flags: string[] = []): Promise<BenchServer> {
  const child = spawn(process.execPath, [SERVER_BIN, '--port', '0', '--store', store, '--log-level', 'warn', ...flags], { stdio: ['ignore', 'ignore', 'pipe'] });
  return listening(child, 'larder-server');
}

/** Resolves once the child says where it listens; rejects if it exits first. */
function listening(child: ChildProcess, name: string): Promise<BenchServer> {
  let stderr = '';
  return new Promise((resolve, reject) => {
    child.stderr?.on('data', (d: Buffer) => {
      stderr += d;
      const url = /listening on (https?:\/\/\S+)/.exec(stderr)?.[1];
      if (url) resolve({ url, child, stop: () => new Promise<void>((done) => (child.kill('SIGTERM'), child.once('exit', () => done()))) });
    });
    child.once('exit', (code) => reject(new Error(`${name} exited with ${code}: ${stderr}`)));
  });
}

// The floor for the server's CPU per GB: node:http taking each blob, hashing it with
// SHA-256 and writing it to a file in batches of ~1 MiB, as larder-server does, and
// nothing else (no routing, access checks, bookkeeping or missing-blob questions).
// It answers 400 when the bytes do not hash to the digest in the URL. For the restore's
// floor (bench/floor.ts) it also sends a file of a second folder: GET /files/<name>.
const BARE_RECEIVER = `
import { createServer } from 'node:http';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { basename } from 'node:path';
const dir = process.argv[1];
const served = process.argv[2];
let n = 0;
const server = createServer(async (req, res) => {
  if (req.method === 'GET') {
    const file = createReadStream(served + '/' + basename(decodeURIComponent(req.url)), { highWaterMark: 1 << 20 });
    file.once('error', () => res.headersSent ? res.destroy() : res.writeHead(404).end());
    file.once('open', () => file.pipe(res));
    return;
  }
  const file = await open(dir + '/' + n++, 'wx');
  const hash = createHash('sha256');
  let batch = [];
  let bytes = 0;
  let writing = Promise.resolve();
  req.on('data', (chunk) => {
    hash.update(chunk);
    batch.push(chunk);
    bytes += chunk.length;
    if (bytes < 1 << 20) return;
    const chunks = batch;
    batch = [];
    bytes = 0;
    req.pause();
    writing = writing.then(() => file.writev(chunks)).then(() => req.resume());
  });
  req.on('end', async () => {
    await writing;
    if (batch.length > 0) await file.writev(batch);
    await file.close();
    const digest = 'sha256:' + hash.digest('hex');
    res.writeHead(req.url.endsWith('/' + digest) ? 201 : 400).end();
  });
});
server.listen(0, '127.0.0.1', () => process.stderr.write('listening on http://127.0.0.1:' + server.address().port + '\\n'));
`;

/** The bare receiver above, writing what it receives into `dir` (which must exist), and sending the files of `served`. */
export function startBareReceiver(dir: string, served = dir): Promise<BenchServer> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', BARE_RECEIVER, dir, served], { stdio: ['ignore', 'ignore', 'pipe'] });
  return listening(child, 'bare receiver');
}

/** Sends one blob somewhere: the bare receiver, or a larder server as a save would. */
export type BlobSender = (digest: string, body: Buffer) => Promise<void>;

/** PUT to the bare receiver, which answers 201 when the bytes hash to the digest. */
export const toBareReceiver =
  (url: string): BlobSender =>
  async (digest, body) => {
    const response = await fetch(`${url}/blobs/${digest}`, { method: 'PUT', body });
    if (response.status !== 201) throw new Error(`the bare receiver answered ${response.status} for ${digest}`);
  };

/** As a save sends a part to larder-server, with the client's own transport: asks whether the blob is missing, then uploads it if it is. */
export function toLarderServer(url: string, namespace: string): BlobSender {
  const client = new CacheClient({ server: url, namespace });
  return async (digest, body) => {
    if ((await client.missing([digest], [body.length])).length > 0) await client.putBlob(digest, body.length, () => body);
  };
}

/** Where a disk store keeps a namespace's entries and blobs. */
export function namespaceFolder(store: string, namespace: string): string {
  return join(store, 'v1', 'ns', namespace);
}

/**
 * Sends every blob a namespace of a disk store holds, `concurrency` at a time as a save
 * does; returns the bytes sent.
 */
export async function replayBlobs(store: string, namespace: string, concurrency: number, send: BlobSender): Promise<number> {
  const top = join(namespaceFolder(store, namespace), 'blobs', 'sha256');
  const files = readdirSync(top).flatMap((shard) => readdirSync(join(top, shard)).map((hex) => ({ file: join(top, shard, hex), digest: `sha256:${hex}` })));
  const sizes = await mapLimit(files, concurrency, async ({ file, digest }) => {
    const body = await readFile(file);
    await send(digest, body);
    return body.length;
  });
  return sizes.reduce((sum, size) => sum + size, 0);
}
