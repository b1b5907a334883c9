import { connect } from 'node:net';
import { once } from 'node:events';
import t from 'tap';
import { sha256Digest } from '../../shared/wire/digest.ts';
import { leftovers, S3_BUCKET, S3_ENDPOINT, s3Skip, s3StoreOptions } from '../helpers/external/s3.ts';
import { spawnServer } from '../helpers/server-process.ts';

// A server killed mid-upload leaves its multipart upload pending on S3, and its parts
// cost storage forever. A server sweeps uploads older than --s3-abort-uploads-after
// under its prefix, at start and hourly.

t.test('a server killed mid-upload: the pending upload is swept by the next server', { skip: s3Skip }, async (t) => {
  const { prefix } = await s3StoreOptions();
  const args = ['--store', `s3://${S3_BUCKET}/${prefix}`, '--s3-endpoint', S3_ENDPOINT as string, '--s3-force-path-style'];
  const first = await spawnServer(t, args);
  const size = 40 * 1024 * 1024;
  const digest = sha256Digest(Buffer.alloc(size));
  const { port } = new URL(first.url);
  const socket = connect(Number(port), '127.0.0.1');
  socket.on('error', () => {});
  await once(socket, 'connect');
  socket.write(`PUT /v1/ns/team/blobs/${digest} HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\nContent-Length: ${size}\r\n\r\n`);
  socket.write(Buffer.alloc(20 * 1024 * 1024)); // enough for the multipart upload to begin
  let pending: string[] = [];
  for (let i = 0; i < 100 && pending.length === 0; i++) {
    await new Promise((r) => setTimeout(r, 100));
    pending = (await leftovers(prefix)).uploads;
  }
  first.child.kill('SIGKILL');
  await once(first.child, 'exit');
  socket.destroy();
  t.equal(pending.length, 1, 'the crash left one multipart upload pending');

  await new Promise((r) => setTimeout(r, 1500));
  const second = await spawnServer(t, [...args, '--s3-abort-uploads-after', '1']);
  for (let i = 0; i < 50 && (await leftovers(prefix)).uploads.length > 0; i++) await new Promise((r) => setTimeout(r, 100));
  t.same(await leftovers(prefix), { objects: [], uploads: [] }, 'swept: no upload, no object');
  await new Promise((r) => setTimeout(r, 200));
  t.match(second.stderr() + (second.child.stdout?.read()?.toString() ?? ''), /store sweep: aborted 1 multipart upload\(s\) left unfinished/);
});
