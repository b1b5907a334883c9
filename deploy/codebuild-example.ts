import * as codebuild from 'aws-cdk-lib/aws-codebuild';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import type * as logs from 'aws-cdk-lib/aws-logs';
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';

// An example CodeBuild project in the same VPC: its buildspec fetches the client from
// the server (/client/larder.tgz) and runs `larder run --preset npm -- npm ci`, with
// `--emf` so every restore feeds the hit-rate alarm and dashboard. The token it uses is
// a secret of its own (a token whose hash is in the tokens file). The README's CodeBuild
// recipe is the same steps for a real project.

export interface CodeBuildExampleProps {
  vpc: ec2.IVpc;
  serverUrl: string;
  ciToken: secretsmanager.ISecret;
  logGroup: logs.ILogGroup;
}

export class CodeBuildExample extends Construct {
  readonly project: codebuild.Project;

  constructor(scope: Construct, id: string, props: CodeBuildExampleProps) {
    super(scope, id);
    this.project = new codebuild.Project(this, 'Project', {
      description: 'larder example: restores node_modules from the cache, installs on a miss, saves',
      vpc: props.vpc,
      subnetSelection: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      environment: { buildImage: codebuild.LinuxBuildImage.STANDARD_7_0, computeType: codebuild.ComputeType.SMALL },
      environmentVariables: {
        LARDER_SERVER: { value: props.serverUrl },
        LARDER_NAMESPACE: { value: 'example' },
        LARDER_KEY_PREFIX: { value: 'main-' },
        LARDER_TOKEN: { type: codebuild.BuildEnvironmentVariableType.SECRETS_MANAGER, value: props.ciToken.secretArn },
      },
      logging: { cloudWatch: { logGroup: props.logGroup } },
      buildSpec: codebuild.BuildSpec.fromObject({
        version: '0.2',
        phases: {
          install: {
            'runtime-versions': { nodejs: 20 },
            commands: ['curl -fsSL "$LARDER_SERVER/client/larder.tgz" -o /tmp/larder.tgz && npm i -g /tmp/larder.tgz'],
          },
          // A project of its own, so the example runs as it is: the first build misses
          // and saves, the next ones restore. A real project has its sources instead.
          pre_build: { commands: ['mkdir -p demo && cd demo && echo \'{"name":"demo","private":true,"dependencies":{"semver":"7.6.3"}}\' > package.json && npm install --package-lock-only --ignore-scripts', 'cd demo && larder run --preset npm --emf -- npm ci'] },
          build: { commands: ['cd demo && node -e "require(\'semver\')"'] },
        },
      }),
    });
  }
}
