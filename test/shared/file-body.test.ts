import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import t from 'tap';
import { FileBody } from '../../shared/file-body.ts';
import { tempDir } from '../helpers/tmp.ts';

/** A sink that keeps what it is given (copied: the sender may reuse its memory) and which memory it came in. */
function sink(fail?: (n: number) => Error | undefined): { to: Writable; bytes: () => Buffer; memories: Set<ArrayBufferLike> } {
  const chunks: Buffer[] = [];
  const memories = new Set<ArrayBufferLike>();
  const to = new Writable({
    write(chunk: Buffer, _encoding, callback) {
      memories.add(chunk.buffer);
      chunks.push(Buffer.from(chunk));
      setImmediate(() => callback(fail?.(chunks.length)));
    },
  });
  to.on('error', () => {}); // as a response's socket error is the server's to handle
  return { to, bytes: () => Buffer.concat(chunks), memories };
}

async function readAll(body: FileBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

t.test('a blob file reads and sends the same bytes, whole or a range; a send goes through two buffers', async (t) => {
  const file = join(tempDir(t), 'blob');
  const data = randomBytes(10 * 1024 * 1024 + 123);
  writeFileSync(file, data);
  t.same(await readAll(new FileBody(await open(file))), data, 'read whole');
  t.same(await readAll(new FileBody(await open(file), 5, 2_000_005)), data.subarray(5, 2_000_005), 'read a range');
  const whole = sink();
  await new FileBody(await open(file)).sendTo(whole.to);
  t.same(whole.bytes(), data, 'sent whole');
  t.ok(whole.memories.size <= 2, `11 chunks sent from ${whole.memories.size} buffers`);
  const range = sink();
  await new FileBody(await open(file), 1_048_570, 3_000_000).sendTo(range.to);
  t.same(range.bytes(), data.subarray(1_048_570, 3_000_000), 'sent a range');
});

t.test('a file shorter than its range, or a consumer that fails, fails the send and closes the file', async (t) => {
  const file = join(tempDir(t), 'blob');
  writeFileSync(file, randomBytes(3 * 1024 * 1024));
  const short = await open(file);
  await t.rejects(new FileBody(short, 0, 5 * 1024 * 1024).sendTo(sink().to), /shorter than its size/);
  await t.rejects(short.stat(), { code: 'EBADF' }, 'closed');
  const refused = await open(file);
  await t.rejects(new FileBody(refused).sendTo(sink((n) => (n === 2 ? new Error('socket closed') : undefined)).to), /socket closed/);
  await t.rejects(refused.stat(), { code: 'EBADF' }, 'closed');
  const streamed = new FileBody(await open(file), 0, 5 * 1024 * 1024);
  await t.rejects(readAll(streamed), /shorter than its size/, 'read as a stream, too');
});
