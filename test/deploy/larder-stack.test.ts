import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { App } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import t from 'tap';
import { emfLine, type Report } from '../../client/report.ts';
import { configFrom } from '../../deploy/config.ts';
import { LarderStack } from '../../deploy/larder-stack.ts';
import { s3StorePolicy } from '../../server/storage/s3-policy.ts';
import { runProcess } from '../helpers/cli.ts';
import { tempDir } from '../helpers/tmp.ts';

const REPOSITORY = fileURLToPath(new URL('../..', import.meta.url));

// The deploy/ app synthesised offline and checked on its CloudFormation template.

const ENV = { account: '123456789012', region: 'eu-west-1' };

function synth(t: Parameters<typeof tempDir>[0], context: Record<string, string> = {}): { stack: LarderStack; template: Template } {
  const app = new App({ outdir: tempDir(t, 'cdk-out'), context });
  const stack = new LarderStack(app, 'Larder', configFrom(app), { env: ENV });
  return { stack, template: Template.fromStack(stack) };
}

type Resource = { Type: string; Properties: Record<string, unknown> };
function only(template: Template, type: string): Resource {
  const found = Object.values(template.findResources(type)) as Resource[];
  if (found.length !== 1) throw new Error(`expected one ${type}, found ${found.length}`);
  return found[0] as Resource;
}

t.test('a new VPC (a trial): every piece, as the issue lists them', async (t) => {
  const { stack, template } = synth(t);
  const json = JSON.stringify(template.toJSON());

  t.test('the bucket: private, encrypted, unversioned, aborting incomplete uploads, data only through the endpoint', async (t) => {
    const bucket = only(template, 'AWS::S3::Bucket').Properties;
    t.same(bucket.PublicAccessBlockConfiguration, { BlockPublicAcls: true, BlockPublicPolicy: true, IgnorePublicAcls: true, RestrictPublicBuckets: true });
    t.match(bucket.BucketEncryption, { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: 'AES256' } }] });
    t.notOk(bucket.VersioningConfiguration, 'no versioning: the collector\'s deletes free space');
    t.match(bucket.LifecycleConfiguration, { Rules: [{ Prefix: 'larder/', Status: 'Enabled', AbortIncompleteMultipartUpload: { DaysAfterInitiation: 1 } }] });
    const endpoints = template.findResources('AWS::EC2::VPCEndpoint', { Properties: { VpcEndpointType: 'Gateway' } });
    const [endpointId] = Object.keys(endpoints);
    t.ok(endpointId, 'a gateway endpoint');
    t.match(JSON.stringify(endpoints[endpointId as string]), /s3/, 'for S3');
    t.ok((endpoints[endpointId as string] as Resource).Properties.RouteTableIds, 'on the route tables');
    const policy = only(template, 'AWS::S3::BucketPolicy').Properties.PolicyDocument as { Statement: Array<Record<string, unknown>> };
    const deny = policy.Statement.find((s) => s.Sid === 'OnlyThroughTheVpcEndpoint');
    t.match(deny, { Effect: 'Deny', Principal: { AWS: '*' }, Condition: { StringNotEquals: { 'aws:SourceVpce': { Ref: endpointId } } } }, 'denies requests not from the endpoint');
    t.ok((deny?.Action as string[]).includes('s3:GetObject*') && (deny?.Action as string[]).includes('s3:PutObject*'), 'reads and writes alike');
  });

  t.test('the task role holds exactly the policy docs/server.md shows, from one source', async (t) => {
    const docs = readFileSync(new URL('../../docs/server.md', import.meta.url), 'utf8');
    const shown = /Least-privilege IAM policy[^\n]*\n\n```json\n([\s\S]*?)\n```/.exec(docs)?.[1];
    t.same(JSON.parse(shown ?? '{}'), s3StorePolicy('acme-build-cache', 'larder'), 'docs/server.md shows the generated policy');
    const taskRoles = template.findResources('AWS::IAM::Role', { Properties: { AssumeRolePolicyDocument: { Statement: [{ Principal: { Service: 'ecs-tasks.amazonaws.com' } }] } } });
    const taskRoleId = Object.keys(taskRoles).find((id) => id.includes('TaskTaskRole'));
    t.ok(taskRoleId, 'a task role');
    const policies = Object.values(template.findResources('AWS::IAM::Policy')).filter((p) => JSON.stringify((p as Resource).Properties.Roles).includes(taskRoleId as string)) as Resource[];
    t.equal(policies.length, 1, 'one policy on the task role, and nothing else');
    const expected = stack.resolve(iam.PolicyDocument.fromJson(s3StorePolicy(stack.cache.bucket.bucketName, 'larder')).toJSON());
    t.same(policies[0]?.Properties.PolicyDocument, expected, 'the generated policy, for this bucket and prefix');
  });

  t.test('no secret value in the template: the tokens file arrives from Secrets Manager at run time', async (t) => {
    t.notMatch(json, /"SecretString"\s*:/, 'no secret is given a value in the template (only generated ones)');
    const task = only(template, 'AWS::ECS::TaskDefinition').Properties as { ContainerDefinitions: Array<Record<string, unknown>> };
    const container = task.ContainerDefinitions[0] as { Environment: Array<{ Name: string; Value: unknown }>; Secrets: Array<{ Name: string; ValueFrom: unknown }> };
    t.match(container.Secrets, [{ Name: 'LARDER_TOKENS_JSON', ValueFrom: { Ref: /^Tokens/ } }]);
    t.notOk(container.Environment.some((e) => e.Name === 'LARDER_TOKENS_JSON'), 'never as a plain variable');
    t.ok(container.Environment.some((e) => e.Name === 'LARDER_TOKENS_FILE' && e.Value === ''), 'the image\'s default tokens file path is turned off');
  });

  t.test('the servers: non-root, read-only root file system (only /tmp writable), drained as the server shuts down', async (t) => {
    const task = only(template, 'AWS::ECS::TaskDefinition').Properties as { ContainerDefinitions: Array<Record<string, unknown>>; Volumes: unknown[] };
    t.match(task.ContainerDefinitions[0], { User: 'node', ReadonlyRootFilesystem: true, MountPoints: [{ ContainerPath: '/tmp', ReadOnly: false }], StopTimeout: 40, PortMappings: [{ ContainerPort: 7373 }] });
    t.match(only(template, 'AWS::ECS::Service').Properties, { DesiredCount: 2, LaunchType: 'FARGATE', DeploymentConfiguration: { MinimumHealthyPercent: 100 } });
    t.match(only(template, 'AWS::ElasticLoadBalancingV2::LoadBalancer').Properties, { Scheme: 'internal' });
    const group = only(template, 'AWS::ElasticLoadBalancingV2::TargetGroup').Properties as { TargetGroupAttributes: Array<{ Key: string; Value: string }> };
    t.match(group, { HealthCheckPath: '/readyz' });
    t.match(only(template, 'AWS::ECS::Service').Properties, { LoadBalancers: [{ ContainerPort: 7373 }] }, 'the load balancer sends to the server\'s port');
    t.ok(group.TargetGroupAttributes.some((a) => a.Key === 'deregistration_delay.timeout_seconds' && a.Value === '30'), 'draining takes the server\'s 30 s shutdown grace');
    t.match(only(template, 'AWS::ElasticLoadBalancingV2::Listener').Properties, { Port: 80, Protocol: 'HTTP' }, 'plain HTTP without a certificate');
  });

  t.test('the alarm reads the metrics the client writes', async (t) => {
    const alarm = only(template, 'AWS::CloudWatch::Alarm').Properties as { Metrics: Array<{ Id: string; Expression?: string; MetricStat?: { Metric: { Namespace: string; MetricName: string; Dimensions: Array<{ Name: string; Value: string }> } } }>; Threshold: number };
    t.equal(alarm.Threshold, 0.8);
    t.ok(alarm.Metrics.some((m) => m.Expression === 'hits / (hits + misses)'), 'the hit rate, by metric math');
    // What a restore prints with --emf, as CloudWatch Logs reads it.
    const report: Report = { command: 'restore', outcome: 'hit', key: 'k', match: 'exact', paths: [], files: 1, fileBytes: 1, parts: 1, transferredBytes: 1, seconds: 1, phases: {}, savedSeconds: 5 };
    const line = JSON.parse(emfLine(report, 'Larder', 'web')) as { _aws: { CloudWatchMetrics: Array<{ Namespace: string; Dimensions: string[][]; Metrics: Array<{ Name: string }> }> }; Command: string };
    const written = line._aws.CloudWatchMetrics[0];
    const read = alarm.Metrics.filter((m) => m.MetricStat).map((m) => m.MetricStat?.Metric);
    t.equal(read.length, 2);
    for (const metric of read) {
      t.equal(metric?.Namespace, written?.Namespace, `${metric?.MetricName}: the client's namespace`);
      t.ok(written?.Metrics.some((m) => m.Name === metric?.MetricName), `${metric?.MetricName}: a metric the client writes`);
      t.ok(written?.Dimensions.some((d) => JSON.stringify(d) === JSON.stringify(metric?.Dimensions.map((x) => x.Name))), 'by a dimension set the client writes');
      t.same(metric?.Dimensions, [{ Name: 'Command', Value: line.Command }]);
    }
    const dashboard = JSON.stringify(only(template, 'AWS::CloudWatch::Dashboard').Properties.DashboardBody);
    for (const name of ['TransferredBytes', 'SavedSeconds', 'Hit', 'Miss']) t.match(dashboard, new RegExp(`\\\\"${name}\\\\"`), `the dashboard shows ${name}`);
  });

  t.test('the example CodeBuild project: in the VPC, fetching the client from the server, running larder run', async (t) => {
    const project = only(template, 'AWS::CodeBuild::Project').Properties as { VpcConfig: unknown; Source: { BuildSpec: string }; Environment: { EnvironmentVariables: Array<{ Name: string; Type?: string }> } };
    t.ok(project.VpcConfig, 'in the VPC');
    t.match(project.Source.BuildSpec, /curl -fsSL \\?"\$LARDER_SERVER\/client\/larder\.tgz\\?"/);
    t.match(project.Source.BuildSpec, /larder run --preset npm --emf -- npm ci/);
    t.ok(project.Environment.EnvironmentVariables.some((v) => v.Name === 'LARDER_TOKEN' && v.Type === 'SECRETS_MANAGER'), 'its token from Secrets Manager');
  });
});

t.test('an existing VPC, a certificate, three servers and an existing tokens secret', async (t) => {
  const secret = 'arn:aws:secretsmanager:eu-west-1:123456789012:secret:larder/tokens-AbCdEf';
  const { template } = synth(t, { vpcId: 'vpc-0abc1234', certificateArn: 'arn:aws:acm:eu-west-1:123456789012:certificate/11111111-2222-3333-4444-555555555555', desiredCount: '3', tokensSecretArn: secret });
  t.equal(Object.keys(template.findResources('AWS::EC2::VPC')).length, 0, 'no VPC made');
  t.match(only(template, 'AWS::ElasticLoadBalancingV2::Listener').Properties, { Port: 443, Protocol: 'HTTPS', Certificates: [{ CertificateArn: /certificate/ }] });
  t.match(only(template, 'AWS::ECS::Service').Properties, { DesiredCount: 3 });
  t.match(JSON.stringify(template.toJSON()), /larder\/tokens-AbCdEf/, 'the given secret is read');
  t.equal(Object.keys(template.findResources('AWS::SecretsManager::Secret')).length, 1, 'only the example\'s token secret is made');
});

t.test('npm run synth, as docs/deploy.md shows it, writes the template with no AWS call', async (t) => {
  const out = tempDir(t, 'synth-out');
  const run = await runProcess('npm', ['run', 'synth', '--', '-o', out, '-c', 'desiredCount=3'], { cwd: REPOSITORY, env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', AWS_EC2_METADATA_DISABLED: 'true' } });
  t.equal(run.code, 0, run.out.slice(-2000));
  const template = JSON.parse(readFileSync(join(out, 'Larder.template.json'), 'utf8')) as { Resources: Record<string, Resource> };
  t.ok(Object.values(template.Resources).some((r) => r.Type === 'AWS::ECS::Service' && r.Properties.DesiredCount === 3), 'the app as the CLI runs it, context applied');
});

t.test('bad context is refused in one line', async (t) => {
  t.throws(() => synth(t, { desiredCount: '0' }), /desiredCount must be a number from 1 to 20/);
  t.throws(() => synth(t, { prefix: '../x' }), /prefix must be a key prefix/);
});
