import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as s3 from 'aws-cdk-lib/aws-s3';
import { Construct } from 'constructs';

// The cache's bucket, reached only through a gateway endpoint on the VPC's route tables
// (free, and no traffic leaves the VPC): private, encrypted, no versioning (entries are
// immutable, and the collector's deletes must free space), incomplete multipart uploads
// aborted after a day, and a bucket policy that refuses every data request that does not
// come through the endpoint. Bucket management (CloudFormation's own calls) is not
// restricted, so the stack can still update and tear down the policy.

/** The data-plane actions a request from outside the VPC may not make. */
export const DATA_ACTIONS = ['s3:GetObject*', 's3:PutObject*', 's3:DeleteObject*', 's3:ListBucket*', 's3:AbortMultipartUpload', 's3:ListMultipartUploadParts'];

export interface CacheBucketProps {
  vpc: ec2.IVpc;
  bucketName?: string;
  prefix: string;
}

export class CacheBucket extends Construct {
  readonly bucket: s3.Bucket;
  readonly endpoint: ec2.GatewayVpcEndpoint;

  constructor(scope: Construct, id: string, props: CacheBucketProps) {
    super(scope, id);
    this.endpoint = props.vpc.addGatewayEndpoint('S3Endpoint', { service: ec2.GatewayVpcEndpointAwsService.S3 });
    this.bucket = new s3.Bucket(this, 'Bucket', {
      ...(props.bucketName ? { bucketName: props.bucketName } : {}),
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      versioned: false,
      lifecycleRules: [{ id: 'abort-incomplete-uploads', prefix: `${props.prefix}/`, abortIncompleteMultipartUploadAfter: Duration.days(1) }],
      // The cache outlives the stack: `cdk destroy` leaves it (docs/deploy.md says how to remove it).
      removalPolicy: RemovalPolicy.RETAIN,
    });
    this.bucket.addToResourcePolicy(
      new iam.PolicyStatement({
        sid: 'OnlyThroughTheVpcEndpoint',
        effect: iam.Effect.DENY,
        principals: [new iam.AnyPrincipal()],
        actions: DATA_ACTIONS,
        resources: [this.bucket.bucketArn, this.bucket.arnForObjects('*')],
        conditions: { StringNotEquals: { 'aws:SourceVpce': this.endpoint.vpcEndpointId } },
      }),
    );
  }
}
