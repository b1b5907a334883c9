import { fileURLToPath } from 'node:url';
import { Duration, Stack } from 'aws-cdk-lib';
import * as acm from 'aws-cdk-lib/aws-certificatemanager';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { Platform } from 'aws-cdk-lib/aws-ecr-assets';
import * as ecs from 'aws-cdk-lib/aws-ecs';
import * as ecsPatterns from 'aws-cdk-lib/aws-ecs-patterns';
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2';
import * as iam from 'aws-cdk-lib/aws-iam';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as s3 from 'aws-cdk-lib/aws-s3';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import { s3StorePolicy } from '../server/storage/s3-policy.ts';

// The larder servers: the repository's Dockerfile on ECS Fargate, N stateless tasks
// behind an internal Application Load Balancer that checks /readyz. Each task reads the
// tokens file from Secrets Manager (LARDER_TOKENS_JSON, injected by ECS: never in the
// template or the image), runs as the image's unprivileged user with a read-only root
// file system (only /tmp, where upload bodies are spooled, is writable), and holds
// exactly the S3 permissions the server uses (server/storage/s3-policy.ts, the policy
// docs/server.md shows). A stopping task gets 30 s to finish requests in flight, as the
// server's own shutdown does; the load balancer stops sending it requests first.

const REPOSITORY = fileURLToPath(new URL('..', import.meta.url));
export const PORT = 7373;
/** the server's shutdown grace (server/app.ts shutdownGraceMs), which draining matches */
export const SHUTDOWN_GRACE = Duration.seconds(30);

export interface LarderServiceProps {
  vpc: ec2.IVpc;
  bucket: s3.IBucket;
  prefix: string;
  desiredCount: number;
  certificateArn?: string;
  tokens: secretsmanager.ISecret;
  logGroup: logs.ILogGroup;
}

export class LarderService extends Construct {
  readonly service: ecsPatterns.ApplicationLoadBalancedFargateService;
  readonly url: string;

  constructor(scope: Construct, id: string, props: LarderServiceProps) {
    super(scope, id);
    const task = new ecs.FargateTaskDefinition(this, 'Task', {
      cpu: 1024,
      memoryLimitMiB: 2048,
      runtimePlatform: { cpuArchitecture: ecs.CpuArchitecture.X86_64, operatingSystemFamily: ecs.OperatingSystemFamily.LINUX },
      volumes: [{ name: 'tmp' }],
    });
    task.taskRole.attachInlinePolicy(new iam.Policy(this, 'StorePolicy', { document: iam.PolicyDocument.fromJson(s3StorePolicy(props.bucket.bucketName, props.prefix)) }));
    const container = task.addContainer('larder', {
      image: ecs.ContainerImage.fromAsset(REPOSITORY, { file: 'Dockerfile', platform: Platform.LINUX_AMD64 }),
      user: 'node',
      readonlyRootFilesystem: true,
      environment: {
        LARDER_STORE: `s3://${props.bucket.bucketName}/${props.prefix}`,
        LARDER_S3_REGION: Stack.of(this).region,
        LARDER_HOST: '0.0.0.0',
        LARDER_PORT: String(PORT),
        LARDER_TOKENS_FILE: '', // the image's default path: the tokens come from the secret instead
      },
      secrets: { LARDER_TOKENS_JSON: ecs.Secret.fromSecretsManager(props.tokens) },
      portMappings: [{ containerPort: PORT }],
      logging: ecs.LogDrivers.awsLogs({ streamPrefix: 'larder', logGroup: props.logGroup }),
      stopTimeout: Duration.seconds(SHUTDOWN_GRACE.toSeconds() + 10),
    });
    container.addMountPoints({ containerPath: '/tmp', sourceVolume: 'tmp', readOnly: false });

    const certificate = props.certificateArn ? acm.Certificate.fromCertificateArn(this, 'Certificate', props.certificateArn) : undefined;
    this.service = new ecsPatterns.ApplicationLoadBalancedFargateService(this, 'Service', {
      vpc: props.vpc,
      taskDefinition: task,
      desiredCount: props.desiredCount,
      publicLoadBalancer: false,
      openListener: false,
      ...(certificate ? { certificate, protocol: elbv2.ApplicationProtocol.HTTPS, listenerPort: 443, sslPolicy: elbv2.SslPolicy.RECOMMENDED_TLS } : { protocol: elbv2.ApplicationProtocol.HTTP, listenerPort: 80 }),
      taskSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      minHealthyPercent: 100,
      maxHealthyPercent: 200,
      circuitBreaker: { rollback: true },
    });
    // Only the VPC reaches the load balancer.
    const listenerPort = certificate ? 443 : 80;
    this.service.loadBalancer.connections.allowFrom(ec2.Peer.ipv4(props.vpc.vpcCidrBlock), ec2.Port.tcp(listenerPort), 'clients in the VPC');
    this.service.targetGroup.configureHealthCheck({ path: '/readyz', healthyHttpCodes: '200', interval: Duration.seconds(15), timeout: Duration.seconds(5), healthyThresholdCount: 2, unhealthyThresholdCount: 3 });
    this.service.targetGroup.setAttribute('deregistration_delay.timeout_seconds', String(SHUTDOWN_GRACE.toSeconds()));
    this.url = `${certificate ? 'https' : 'http'}://${this.service.loadBalancer.loadBalancerDnsName}`;
  }
}
