import { App, Stack } from 'aws-cdk-lib';
import { Annotations, Match } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { StatefulNodeGroup, type StatefulNodeGroupProps } from '../../infra/stateful-node-group';

function build(props: Partial<StatefulNodeGroupProps>): Stack {
  const stack = new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', 'etcd');
  new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup, filters: 'Service=etcd', ...props });
  return stack;
}

function nodes(stack: Stack, sizes: number[]) {
  const subnet = ec2.Subnet.fromSubnetAttributes(stack, 'S', {
    subnetId: 'subnet-0123456789abcdef0',
    availabilityZone: 'eu-west-1a',
  });
  return sizes.map((volumeSizeGiB, i) => ({ nodeId: `n${i}`, subnet, volumeSizeGiB }));
}

/** The construct in a stack whose nodes are built in the same stack. */
function withNodes(sizes: number[], props: Partial<StatefulNodeGroupProps>): Stack {
  const stack = new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', 'etcd');
  new StatefulNodeGroup(stack, 'Berth', {
    autoScalingGroup,
    nodes: nodes(stack, sizes),
    nodeSecurityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-12345678')],
    // Node sets need scoping filters (a Key=Value), else the construct reports an error instead.
    filters: 'Service=etcd',
    ...props,
  });
  return stack;
}

const warning = (message: string) =>
  Match.stringLikeRegexp(`^${message.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`);

describe('growth headroom check at synth', () => {
  it('warns when a 90 % threshold with a 60 s period cannot keep up on a 100 GiB volume, naming the 10 s period', () => {
    const stack = withNodes([100, 400], { growth: { initialThresholdPercent: 90, maxThresholdPercent: 95 } });
    Annotations.fromStack(stack).hasWarning(
      '/Test/Berth',
      warning(
        "berth growth cannot keep up: with 1 volume, 100 GiB at 90 %, a writer at the volumes' provisioned 125 MiB/s " +
          'fills the disk before new capacity lands (safe up to 48.9 MiB/s with a 60 s period); ' +
          'set growth.alarm.periodSeconds to 10, which keeps up at every size tier',
      ),
    );
  });

  it('warns for the defaults on a 20 GiB scratch volume, and not once the 10 s period is set', () => {
    const scratch = { nodeSets: false, growth: { scratch: { enabled: true, sizeGiB: 20 } } };
    Annotations.fromStack(build(scratch)).hasWarning(
      '/Test/Berth',
      warning(
        "berth growth cannot keep up: with 1 volume, 20 GiB at 50 %, a writer at the volumes' provisioned 125 MiB/s " +
          'fills the disk before new capacity lands (safe up to 48.9 MiB/s with a 60 s period); ' +
          'set growth.alarm.periodSeconds to 10, which keeps up at every size tier',
      ),
    );
    const faster = {
      nodeSets: false,
      growth: { scratch: { enabled: true, sizeGiB: 20 }, alarm: { periodSeconds: 10 } },
    };
    Annotations.fromStack(build(faster)).hasNoWarning('/Test/Berth', Match.stringLikeRegexp('berth growth'));
  });

  it('says nothing for the defaults on 150 GiB node sets, or when sizes are unknown (sets tagged by hand)', () => {
    Annotations.fromStack(withNodes([150, 300], { growth: {} })).hasNoWarning(
      '*',
      Match.stringLikeRegexp('berth growth'),
    );
    Annotations.fromStack(build({ growth: {} })).hasNoWarning('*', Match.stringLikeRegexp('berth growth'));
  });
});
