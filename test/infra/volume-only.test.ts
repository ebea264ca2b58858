import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { SETTINGS_ENV } from '../../lambdas/shared/config';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';

function synth(volumeOnly: boolean): Template {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'VolumeOnly', { env: { account: '111111111111', region: 'eu-west-1' } });
  const subnet = ec2.Subnet.fromSubnetAttributes(stack, 'S', {
    subnetId: 'subnet-0123456789abcdef0',
    availabilityZone: 'eu-west-1a',
  });
  const sg = ec2.SecurityGroup.fromSecurityGroupId(stack, 'SG', 'sg-0123456789abcdef0');
  new StatefulNodeGroup(stack, 'Berth', {
    autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'kafka'),
    filters: 'Service=kafka',
    volumeOnly,
    nodes: ['kafka-0', 'kafka-1'].map((nodeId) => ({ nodeId, subnet, volumeSizeGiB: 100 })),
    ...(volumeOnly ? {} : { nodeSecurityGroups: [sg] }),
  });
  return Template.fromStack(stack);
}

describe('a volume-only group in the template', () => {
  it('grants no function any network-interface action, and creates volumes but no ENIs', () => {
    const t = synth(true);
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).not.toMatch(/NetworkInterface|network-interface/);
    t.resourceCountIs('AWS::EC2::Volume', 2);
    t.resourceCountIs('AWS::EC2::NetworkInterface', 0);
    for (const fn of Object.values(t.findResources('AWS::Lambda::Function'))) {
      const env = (fn.Properties as { Environment: { Variables: Record<string, string> } }).Environment
        .Variables;
      expect(JSON.parse(env[SETTINGS_ENV] ?? '{}')).toMatchObject({ volumeOnly: true });
    }
  });

  it('keeps the ENI statements and ENIs of a default group', () => {
    const t = synth(false);
    const policies = JSON.stringify(t.findResources('AWS::IAM::Policy'));
    expect(policies).toContain('ec2:AttachNetworkInterface');
    expect(policies).toContain(':network-interface/*');
    t.resourceCountIs('AWS::EC2::NetworkInterface', 2);
  });
});
