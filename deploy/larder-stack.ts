import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from 'aws-cdk-lib';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import type { Construct } from 'constructs';
import { CodeBuildExample } from './codebuild-example.ts';
import type { LarderDeployConfig } from './config.ts';
import { Monitoring } from './monitoring.ts';
import { LarderService } from './service.ts';
import { CacheBucket } from './storage.ts';

// larder for a team whose builds run in a VPC (docs/deploy.md): stateless servers on
// Fargate behind an internal load balancer, one bucket reached through a gateway
// endpoint, the tokens file in Secrets Manager, logs, an alarm and a dashboard, and an
// example CodeBuild project that uses it.

export class LarderStack extends Stack {
  readonly cache: CacheBucket;
  readonly larder: LarderService;
  readonly monitoring: Monitoring;
  readonly example: CodeBuildExample;

  constructor(scope: Construct, id: string, config: LarderDeployConfig, props: StackProps = {}) {
    super(scope, id, props);
    const vpc = config.vpcId
      ? ec2.Vpc.fromLookup(this, 'Vpc', { vpcId: config.vpcId })
      : new ec2.Vpc(this, 'Vpc', { maxAzs: 2, natGateways: 1 }); // a trial: one NAT gateway, for image pulls and the npm registry
    this.cache = new CacheBucket(this, 'Cache', { vpc, prefix: config.prefix, ...(config.bucketName ? { bucketName: config.bucketName } : {}) });

    // The tokens file: an existing secret, or a new one holding a placeholder that grants
    // nothing until the team puts its own file in (docs/deploy.md says how).
    const tokens = config.tokensSecretArn
      ? secretsmanager.Secret.fromSecretCompleteArn(this, 'Tokens', config.tokensSecretArn)
      : new secretsmanager.Secret(this, 'Tokens', {
          description: 'larder tokens file (docs/security.md): put yours with aws secretsmanager put-secret-value',
          generateSecretString: { secretStringTemplate: JSON.stringify({ tokens: [] }), generateStringKey: 'placeholder', excludePunctuation: true },
        });
    const ciToken = new secretsmanager.Secret(this, 'ExampleCiToken', {
      description: 'the token the example CodeBuild project sends; its SHA-256 goes in the tokens file',
      generateSecretString: { passwordLength: 40, excludePunctuation: true },
    });

    const logGroup = new logs.LogGroup(this, 'Logs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.larder = new LarderService(this, 'Larder', { vpc, bucket: this.cache.bucket, prefix: config.prefix, desiredCount: config.desiredCount, tokens, logGroup, ...(config.certificateArn ? { certificateArn: config.certificateArn } : {}) });
    const lb = this.larder.service.loadBalancer;
    this.monitoring = new Monitoring(this, 'Monitoring', {
      emfNamespace: config.emfNamespace,
      hitRateThreshold: config.hitRateThreshold,
      loadBalancerMetrics: {
        requests: lb.metrics.requestCount({ period: Duration.minutes(5) }),
        errors: lb.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, { period: Duration.minutes(5) }),
        latency: lb.metrics.targetResponseTime({ period: Duration.minutes(5), statistic: 'p99' }),
      },
    });
    const buildLogs = new logs.LogGroup(this, 'ExampleBuildLogs', { retention: logs.RetentionDays.ONE_MONTH, removalPolicy: RemovalPolicy.DESTROY });
    this.example = new CodeBuildExample(this, 'Example', { vpc, serverUrl: this.larder.url, ciToken, logGroup: buildLogs });

    new CfnOutput(this, 'ServerUrl', { value: this.larder.url, description: 'LARDER_SERVER for builds in the VPC' });
    new CfnOutput(this, 'Bucket', { value: this.cache.bucket.bucketName });
    new CfnOutput(this, 'TokensSecret', { value: tokens.secretArn, description: 'put the tokens file here' });
    new CfnOutput(this, 'ExampleCiTokenSecret', { value: ciToken.secretArn, description: 'the example project\'s token: hash it into the tokens file' });
  }
}
