import { App } from 'aws-cdk-lib';
import { configFrom } from './config.ts';
import { LarderStack } from './larder-stack.ts';

// The CDK app (deploy/cdk.json runs it on the Node 22 the repository pins, which runs
// TypeScript directly). docs/deploy.md: `npm run deploy -- -c vpcId=vpc-0abc…`.

const app = new App();
const config = configFrom(app);
new LarderStack(app, (app.node.tryGetContext('stackName') as string | undefined) ?? 'Larder', config, {
  // An existing VPC is looked up, which needs the account and region to deploy into.
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
app.synth();
