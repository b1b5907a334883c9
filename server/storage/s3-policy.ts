// The least-privilege IAM policy the server's role needs for an S3 store: list its own
// prefix (lookups, the collector, aborting a dead server's multipart uploads) and read,
// write and delete objects under it. One source for docs/server.md (checked by
// test/docs) and the task role of deploy/ (checked by test/deploy), so neither drifts.

export interface PolicyDocument {
  Version: '2012-10-17';
  Statement: Array<{ Sid: string; Effect: 'Allow'; Action: string[]; Resource: string; Condition?: Record<string, Record<string, string[]>> }>;
}

/** The policy for a store at s3://bucket/prefix (the bucket may be a CloudFormation token). */
export function s3StorePolicy(bucket: string, prefix: string): PolicyDocument {
  const bare = prefix.replace(/\/+$/, '');
  return {
    Version: '2012-10-17',
    Statement: [
      {
        Sid: 'ListOwnPrefix',
        Effect: 'Allow',
        Action: ['s3:ListBucket', 's3:ListBucketMultipartUploads'],
        Resource: `arn:aws:s3:::${bucket}`,
        Condition: { StringLike: { 's3:prefix': [bare, `${bare}/*`] } },
      },
      {
        Sid: 'ReadWriteOwnObjects',
        Effect: 'Allow',
        Action: ['s3:GetObject', 's3:PutObject', 's3:DeleteObject', 's3:AbortMultipartUpload'],
        Resource: `arn:aws:s3:::${bucket}/${bare}/*`,
      },
    ],
  };
}
