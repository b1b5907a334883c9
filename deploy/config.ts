import type { App } from 'aws-cdk-lib';

// What a team chooses, as CDK context (-c name=value, or "context" in cdk.json):
//   vpcId                an existing VPC (looked up); without it a new one is made, for a trial
//   desiredCount         larder servers behind the load balancer (default 2)
//   certificateArn       an ACM certificate: the load balancer listens with TLS on 443
//   tokensSecretArn      an existing Secrets Manager secret holding the tokens file
//   bucketName           the bucket's name (default: CloudFormation names it)
//   prefix               the key prefix inside the bucket (default larder)
//   hitRateThreshold     the alarm's floor for the restore hit rate (default 0.8)
//   emfNamespace         the CloudWatch namespace clients write with --emf (default Larder)

export interface LarderDeployConfig {
  vpcId?: string;
  desiredCount: number;
  certificateArn?: string;
  tokensSecretArn?: string;
  bucketName?: string;
  prefix: string;
  hitRateThreshold: number;
  emfNamespace: string;
}

export function configFrom(app: App): LarderDeployConfig {
  const text = (name: string): string | undefined => {
    const value = app.node.tryGetContext(name) as unknown;
    return value === undefined || value === '' ? undefined : String(value);
  };
  const number = (name: string, fallback: number, min: number, max: number): number => {
    const value = Number(text(name) ?? fallback);
    if (!Number.isFinite(value) || value < min || value > max) throw new Error(`context ${name} must be a number from ${min} to ${max}`);
    return value;
  };
  const prefix = (text('prefix') ?? 'larder').replace(/^\/+|\/+$/g, '');
  if (!/^[A-Za-z0-9._-]+(\/[A-Za-z0-9._-]+)*$/.test(prefix) || prefix.split('/').some((s) => s === '.' || s === '..')) throw new Error('context prefix must be a key prefix like larder or team/larder');
  return {
    vpcId: text('vpcId'),
    desiredCount: number('desiredCount', 2, 1, 20),
    certificateArn: text('certificateArn'),
    tokensSecretArn: text('tokensSecretArn'),
    bucketName: text('bucketName'),
    prefix,
    hitRateThreshold: number('hitRateThreshold', 0.8, 0, 1),
    emfNamespace: text('emfNamespace') ?? 'Larder',
  };
}
