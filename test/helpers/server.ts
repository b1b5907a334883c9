import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import type { FastifyInstance } from 'fastify';
import { type AppOptions, buildApp } from '../../server/app.ts';
import { FsStore } from '../../server/storage/fs.ts';
import { S3Store } from '../../server/storage/s3.ts';
import type { Store } from '../../server/storage/store.ts';
import { S3_BUCKET, s3Client, s3StoreOptions } from './external/s3.ts';
import { tempDir } from './tmp.ts';

export type Backend = 'fs' | 's3';

export interface RunningServer {
  app: FastifyInstance;
  url: string;
  /** the disk store's folder (fs backend) */
  storeDir: string;
  /** flips one byte in the middle of every stored blob, behind the server's back */
  corruptBlobs: () => Promise<number>;
}

/** A real larder server on an ephemeral port, on a fresh disk store or a fresh prefix of the real S3 server. */
export async function startServer(
  t: { teardown: (fn: () => Promise<void> | void) => void },
  options: Omit<AppOptions, 'store'> = {},
  backend: Backend = 'fs',
): Promise<RunningServer> {
  const storeDir = tempDir(t, 'larder-store');
  const s3Options = backend === 's3' ? await s3StoreOptions() : undefined;
  const store: Store = s3Options ? new S3Store(s3Options) : await new FsStore(storeDir).init();
  const app = await buildApp({ ...options, store });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  t.teardown(() => app.close());
  const corruptBlobs = s3Options ? () => corruptS3Blobs(s3Options.prefix) : async () => corruptFiles(storeDir);
  return { app, url, storeDir, corruptBlobs };
}

function flipMiddleByte(bytes: Buffer): Buffer {
  const middle = Math.floor(bytes.length / 2);
  bytes.writeUInt8(bytes.readUInt8(middle) ^ 0xff, middle);
  return bytes;
}

function corruptFiles(storeDir: string): number {
  let count = 0;
  const walk = (dir: string): void => {
    for (const entry of readdirSync(dir, { withFileTypes: true })) {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) walk(path);
      else if (path.includes('/blobs/')) {
        writeFileSync(path, flipMiddleByte(readFileSync(path)));
        count++;
      }
    }
  };
  walk(join(storeDir, 'v1'));
  return count;
}

async function corruptS3Blobs(prefix: string): Promise<number> {
  const client = s3Client();
  const listed = await client.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: prefix }));
  const keys = (listed.Contents ?? []).map((o) => o.Key ?? '').filter((k) => k.includes('/blobs/'));
  for (const Key of keys) {
    const object = await client.send(new GetObjectCommand({ Bucket: S3_BUCKET, Key }));
    const bytes = Buffer.from((await object.Body?.transformToByteArray()) ?? []);
    await client.send(new PutObjectCommand({ Bucket: S3_BUCKET, Key, Body: flipMiddleByte(bytes) }));
  }
  client.destroy();
  return keys.length;
}
