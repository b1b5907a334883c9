import { randomBytes } from 'node:crypto';
import { CreateBucketCommand, ListMultipartUploadsCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { S3Store, type S3StoreOptions } from '../../../server/storage/s3.ts';

// The real S3-compatible server the suite runs against (Ceph RADOS Gateway, started by
// test/run.sh, which exports S3_ENDPOINT and the AWS_* credentials). Each test gets its
// own prefix in one bucket.

export const S3_ENDPOINT = process.env.S3_ENDPOINT;
export const S3_BUCKET = 'larder-test';
export const s3Skip = S3_ENDPOINT ? false : 'no S3-compatible server: S3_ENDPOINT is not set (test/run.sh starts one on Linux as root)';

export function s3Client(): S3Client {
  return new S3Client({ endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, requestChecksumCalculation: 'WHEN_REQUIRED', responseChecksumValidation: 'WHEN_REQUIRED' });
}

let bucketReady: Promise<unknown> | undefined;

export async function s3StoreOptions(overrides: Partial<S3StoreOptions> = {}): Promise<S3StoreOptions> {
  const client = s3Client();
  bucketReady ??= client.send(new CreateBucketCommand({ Bucket: S3_BUCKET })).catch((err: { name?: string }) => {
    if (err.name !== 'BucketAlreadyOwnedByYou' && err.name !== 'BucketAlreadyExists') throw err;
  });
  await bucketReady;
  return { bucket: S3_BUCKET, prefix: `t-${randomBytes(6).toString('hex')}/`, endpoint: S3_ENDPOINT, region: 'us-east-1', forcePathStyle: true, ...overrides };
}

export async function s3Store(t: { teardown: (fn: () => Promise<void>) => void }, overrides: Partial<S3StoreOptions> = {}): Promise<S3Store> {
  const store = new S3Store(await s3StoreOptions(overrides));
  t.teardown(() => store.close());
  return store;
}

/** Every object key and unfinished multipart upload under a prefix. */
export async function leftovers(prefix: string): Promise<{ objects: string[]; uploads: string[] }> {
  const client = s3Client();
  const objects = await client.send(new ListObjectsV2Command({ Bucket: S3_BUCKET, Prefix: prefix }));
  const uploads = await client.send(new ListMultipartUploadsCommand({ Bucket: S3_BUCKET, Prefix: prefix }));
  client.destroy();
  return { objects: (objects.Contents ?? []).map((o) => o.Key ?? ''), uploads: (uploads.Uploads ?? []).map((u) => u.Key ?? '') };
}
