/**
 * The example: a VPC over three AZs, an Amazon Linux 2023 arm64 launch template (IMDSv2, SSM agent,
 * CloudWatch agent), an Auto Scaling group of 4 (three NodeID sets, one spare), three node sets
 * created by berth, growth enabled. Synthesizes offline: no lookups (AZs come from cdk.json).
 *
 * btrfs on AL2023: the kernel has btrfs but the AL2023 repositories ship no btrfs-progs
 * (amazonlinux/amazon-linux-2023#342). With `filesystem: 'btrfs'` (the default here), give the
 * group an AMI that has btrfs-progs (context `berth:amiParameter`, an SSM parameter naming it), or
 * synthesize with `-c berth:filesystem=xfs`, which grows by enlarging the volume in place.
 */
import { Stack, Validations, type StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import { Construct } from 'constructs';
import type { Filesystem } from '../lambdas/shared/config';
import { StatefulNodeGroup } from './stateful-node-group';

export const EXAMPLE_ENV = { account: '111111111111', region: 'eu-west-1' } as const;
export const EXAMPLE_GROUP_NAME = 'etcd-example';
export const EXAMPLE_FILTERS = 'Service=etcd,Env=example';

const AL2023_ARM64 = '/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-arm64';

export class ExampleStack extends Stack {
  public readonly group: StatefulNodeGroup;
  public readonly autoScalingGroup: autoscaling.AutoScalingGroup;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, { env: EXAMPLE_ENV, ...props });
    const filesystem = (this.node.tryGetContext('berth:filesystem') as Filesystem | undefined) ?? 'btrfs';
    const amiParameter =
      (this.node.tryGetContext('berth:amiParameter') as string | undefined) ?? AL2023_ARM64;

    // Network: three AZs, private subnets for the nodes, one NAT gateway for SSM and CloudWatch.
    const vpc = new ec2.Vpc(this, 'Vpc', {
      maxAzs: 3,
      natGateways: 1,
      subnetConfiguration: [
        { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
        { name: 'nodes', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 24 },
      ],
      flowLogs: {
        all: {
          destination: ec2.FlowLogDestination.toCloudWatchLogs(
            new logs.LogGroup(this, 'FlowLogs', { retention: logs.RetentionDays.ONE_MONTH }),
          ),
          trafficType: ec2.FlowLogTrafficType.REJECT,
        },
      },
    });
    const nodeSecurityGroup = new ec2.SecurityGroup(this, 'NodeSecurityGroup', {
      vpc,
      description: 'etcd nodes: peers talk to each other',
      allowAllOutbound: true,
    });
    nodeSecurityGroup.addIngressRule(
      nodeSecurityGroup,
      ec2.Port.tcpRange(2379, 2380),
      'etcd client and peer',
    );

    // Hosts: AL2023 arm64, IMDSv2 only, SSM agent (preinstalled), CloudWatch agent, btrfs-progs.
    const role = new iam.Role(this, 'NodeRole', {
      assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com'),
      description: 'berth example nodes',
    });
    const userData = ec2.UserData.forLinux();
    const launchTemplate = new ec2.LaunchTemplate(this, 'Nodes', {
      machineImage: ec2.MachineImage.fromSsmParameter(amiParameter, {
        os: ec2.OperatingSystemType.LINUX,
        userData,
      }),
      instanceType: ec2.InstanceType.of(ec2.InstanceClass.T4G, ec2.InstanceSize.SMALL),
      requireImdsv2: true,
      httpPutResponseHopLimit: 1,
      role,
      userData,
      securityGroup: nodeSecurityGroup,
      blockDevices: [
        {
          deviceName: '/dev/xvda',
          volume: ec2.BlockDeviceVolume.ebs(16, { encrypted: true, volumeType: ec2.EbsDeviceVolumeType.GP3 }),
        },
      ],
    });

    this.autoScalingGroup = new autoscaling.AutoScalingGroup(this, 'Group', {
      autoScalingGroupName: EXAMPLE_GROUP_NAME,
      vpc,
      vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
      launchTemplate,
      minCapacity: 4,
      maxCapacity: 4,
      healthChecks: autoscaling.HealthChecks.ec2(),
    });

    const subnets = vpc.privateSubnets;
    this.group = new StatefulNodeGroup(this, 'Berth', {
      autoScalingGroup: this.autoScalingGroup,
      filters: EXAMPLE_FILTERS,
      mountPoint: '/var/lib/etcd',
      filesystem,
      envFile: '/etc/etcd/berth.env',
      serviceUnit: 'etcd.service',
      whenNoSetFree: 'spare',
      growth: filesystem === 'btrfs' ? { strategy: 'add-device' } : { strategy: 'expand' },
      nodes: ['etcd-0', 'etcd-1', 'etcd-2'].map((nodeId, i) => ({
        nodeId,
        subnet: subnets[i % subnets.length] as ec2.ISubnet,
        volumeSizeGiB: 20,
      })),
      nodeSecurityGroups: [nodeSecurityGroup],
      instanceRole: role,
    });

    userData.addCommands(
      'set -euo pipefail',
      `dnf install -y amazon-cloudwatch-agent${filesystem === 'btrfs' ? ' btrfs-progs' : ''}`,
      `/opt/aws/amazon-cloudwatch-agent/bin/amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c ssm:${this.group.agentConfig.parameterName}`,
    );

    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'Scaling events are consumed through lifecycle hooks and EventBridge by berth itself; no SNS notifications are needed.',
    });
  }
}
