/**
 * The example: a VPC over three AZs, an Ubuntu 24.04 LTS arm64 launch template (Canonical's public
 * SSM parameter; IMDSv2; the SSM agent ships with the image), an Auto Scaling group of 4 (three
 * NodeID sets, one spare), three node sets created by berth, growth enabled, and a three-member
 * etcd cluster on them: the user data installs etcd behind berth's first-boot guard and configures
 * each member from berth's env file (infra/example-etcd.ts); berth's prepare-node starts it. The
 * CloudWatch agent comes from SSM Distributor through two State Manager associations, so no
 * package install in the user data can stop it. Synthesizes offline: no lookups (AZs come from
 * cdk.json).
 *
 * Context: `berth:filesystem` (btrfs, ext4 or xfs; default btrfs) and `berth:amiParameter` (an SSM
 * parameter naming the AMI). Synth refuses btrfs on an image known to lack btrfs-progs: Amazon
 * Linux 2023's repositories ship none (amazonlinux/amazon-linux-2023#342).
 */
import { Annotations, Stack, Tags, Validations, type StackProps } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as logs from 'aws-cdk-lib/aws-logs';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import type { Filesystem } from '../lambdas/shared/config';
import { etcdUserData, type EtcdMember, type PackageManager } from './example-etcd';
import { StatefulNodeGroup } from './stateful-node-group';

export const EXAMPLE_ENV = { account: '111111111111', region: 'eu-west-1' } as const;
export const EXAMPLE_GROUP_NAME = 'etcd-example';
export const EXAMPLE_FILTERS = 'Service=etcd,Env=example';

/**
 * Canonical's public SSM parameter for the current Ubuntu 24.04 LTS arm64 image with a gp3 root
 * (Canonical, "Find Ubuntu images on AWS"). Ubuntu's archive has btrfs-progs and xfsprogs, and its
 * AWS images ship the SSM agent.
 */
export const UBUNTU_2404_ARM64 =
  '/aws/service/canonical/ubuntu/server/24.04/stable/current/arm64/hvm/ebs-gp3/ami-id';

/** The instance tag the CloudWatch agent associations target (value: the group's name). */
export const AGENT_TARGET_TAG = 'berth:cloudwatch-agent';

/** The context keys the example reads; any other `berth:*` key is a typo and fails the synth. */
export const EXAMPLE_CONTEXT_KEYS = ['berth:filesystem', 'berth:amiParameter'] as const;

/** The prefix of Amazon Linux 2023's public AMI parameters. */
const AL2023_PREFIX = '/aws/service/ami-amazon-linux-latest/al2023-';

/** Images known to lack a filesystem's tools: AL2023 has no btrfs-progs (amazon-linux-2023#342). */
const IMAGES_WITHOUT: Partial<Record<Filesystem, { prefix: string; image: string }[]>> = {
  btrfs: [{ prefix: AL2023_PREFIX, image: 'Amazon Linux 2023' }],
};

/** The package each filesystem's tools come in (the same name in Debian/Ubuntu and Amazon Linux). */
const FILESYSTEM_TOOLS: Record<Filesystem, { apt: string }> = {
  btrfs: { apt: 'btrfs-progs' },
  xfs: { apt: 'xfsprogs' },
  ext4: { apt: 'e2fsprogs' },
};

/** How the example treats an image: its package manager and its root device name. */
export interface ExampleImage {
  readonly packageManager: PackageManager;
  /** The root volume's device name in the AMI's block device mapping. */
  readonly rootDeviceName: string;
}

/**
 * Amazon Linux 2023 (dnf, root /dev/xvda); any other parameter is taken for Ubuntu or Debian (apt,
 * root /dev/sda1, as Canonical's AMIs map it). A block device mapping under another name than the
 * AMI's root adds a second volume instead of sizing the root one.
 */
export function exampleImage(amiParameter: string): ExampleImage {
  return amiParameter.startsWith(AL2023_PREFIX)
    ? { packageManager: 'dnf', rootDeviceName: '/dev/xvda' }
    : { packageManager: 'apt', rootDeviceName: '/dev/sda1' };
}

/** The example's mount point and environment file (berth writes the member's identity there). */
export const EXAMPLE_MOUNT_POINT = '/var/lib/etcd';
export const EXAMPLE_ENV_FILE = '/etc/etcd/berth.env';
export const EXAMPLE_NODE_IDS = ['etcd-0', 'etcd-1', 'etcd-2'] as const;

/**
 * SSM parameter names (Systems Manager User Guide, "Parameter Store: naming constraints"): letters,
 * digits and . - _ /, a fully qualified name starting with "/", at most 1011 characters.
 */
const SSM_PARAMETER_NAME = /^\/[A-Za-z0-9_./-]{1,1010}$/;

/** The mistakes in the example's context, one line each (empty when it is fine). */
export function exampleContextProblems(context: Record<string, unknown>): string[] {
  const problems: string[] = [];
  for (const key of Object.keys(context)
    .filter((k) => k.startsWith('berth:'))
    .sort()) {
    if (!(EXAMPLE_CONTEXT_KEYS as readonly string[]).includes(key)) {
      problems.push(
        `context ${key}: unknown berth context key; the example reads ${EXAMPLE_CONTEXT_KEYS.join(' and ')}`,
      );
    }
  }
  const filesystem = context['berth:filesystem'] ?? 'btrfs';
  if (!(typeof filesystem === 'string' && filesystem in FILESYSTEM_TOOLS)) {
    problems.push(`context berth:filesystem: ${JSON.stringify(filesystem)} is not btrfs, ext4 or xfs`);
  }
  const ami = context['berth:amiParameter'] ?? UBUNTU_2404_ARM64;
  if (!(typeof ami === 'string' && SSM_PARAMETER_NAME.test(ami))) {
    problems.push(
      `context berth:amiParameter: ${JSON.stringify(ami)} is not an SSM parameter name; give the parameter that names the AMI, e.g. ${UBUNTU_2404_ARM64}`,
    );
  } else {
    const lacking = (IMAGES_WITHOUT[filesystem as Filesystem] ?? []).find((i) => ami.startsWith(i.prefix));
    if (lacking) {
      problems.push(
        `context berth:amiParameter: ${ami} is ${lacking.image}, which has no ${FILESYSTEM_TOOLS[filesystem as Filesystem].apt} for berth:filesystem=${String(filesystem)}; use an image that has it (the default ${UBUNTU_2404_ARM64}) or -c berth:filesystem=xfs`,
      );
    }
  }
  return problems;
}

export class ExampleStack extends Stack {
  public readonly group: StatefulNodeGroup;
  public readonly autoScalingGroup: autoscaling.AutoScalingGroup;

  constructor(scope: Construct, id: string, props: StackProps = {}) {
    super(scope, id, { env: EXAMPLE_ENV, ...props });
    const problems = exampleContextProblems(this.node.getAllContext());
    for (const problem of problems) Annotations.of(this).addError(problem);
    // With a bad context, build the defaults so that synth can report every line above.
    const filesystem: Filesystem =
      problems.length === 0
        ? ((this.node.tryGetContext('berth:filesystem') as Filesystem | undefined) ?? 'btrfs')
        : 'btrfs';
    const amiParameter =
      problems.length === 0
        ? ((this.node.tryGetContext('berth:amiParameter') as string | undefined) ?? UBUNTU_2404_ARM64)
        : UBUNTU_2404_ARM64;
    const image = exampleImage(amiParameter);

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

    // Hosts: Ubuntu 24.04 arm64, IMDSv2 only, SSM agent (preinstalled), the filesystem's tools, etcd.
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
          deviceName: image.rootDeviceName,
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
      mountPoint: EXAMPLE_MOUNT_POINT,
      filesystem,
      envFile: EXAMPLE_ENV_FILE,
      serviceUnit: 'etcd.service',
      whenNoSetFree: 'spare',
      growth: {
        strategy: filesystem === 'btrfs' ? 'add-device' : 'expand',
        // 20 GiB nodes fill at their volumes' 125 MiB/s faster than a 60 s alarm period can react
        // (the construct's growth-headroom check says so): 10 s high-resolution metrics keep up.
        alarm: { periodSeconds: 10 },
      },
      nodes: EXAMPLE_NODE_IDS.map((nodeId, i) => ({
        nodeId,
        subnet: subnets[i % subnets.length] as ec2.ISubnet,
        volumeSizeGiB: 20,
      })),
      nodeSecurityGroups: [nodeSecurityGroup],
      instanceRole: role,
    });

    // The user data installs the filesystem's tools and etcd, behind the first-boot guard, and
    // configures each member from berth's env file; prepare-node starts etcd once the set is
    // mounted. The members' IPs are the ENIs' (CloudFormation resolves them into the user data), so
    // nothing here needs editing. The CloudWatch agent is not installed here (see below).
    const members: EtcdMember[] = (this.group.nodeSets?.sets ?? []).map((set) => ({
      nodeId: set.nodeId,
      ip: set.networkInterface?.attrPrimaryPrivateIpAddress ?? '',
    }));
    userData.addCommands(
      ...etcdUserData({
        packageManager: image.packageManager,
        extraPackages: [FILESYSTEM_TOOLS[filesystem].apt],
        mountPoint: EXAMPLE_MOUNT_POINT,
        envFile: EXAMPLE_ENV_FILE,
        members,
        clusterToken: EXAMPLE_GROUP_NAME,
      }),
    );

    // The CloudWatch agent through SSM Distributor (State Manager): one association installs the
    // package on every instance of the group, one configures it from berth's parameter and starts
    // it. The second is re-applied every 30 minutes, so an instance it reached before the package
    // was installed is configured at the next run.
    // Tag targets, as Systems Manager advises for Auto Scaling groups ("Running Auto Scaling groups
    // with associations"): the group puts the tag on every instance it launches.
    Tags.of(this.autoScalingGroup).add(AGENT_TARGET_TAG, EXAMPLE_GROUP_NAME, {
      applyToLaunchedInstances: true,
    });
    const targets = [{ key: `tag:${AGENT_TARGET_TAG}`, values: [EXAMPLE_GROUP_NAME] }];
    new ssm.CfnAssociation(this, 'InstallCloudWatchAgent', {
      name: 'AWS-ConfigureAWSPackage',
      associationName: `${EXAMPLE_GROUP_NAME}-install-cloudwatch-agent`,
      targets,
      parameters: { action: ['Install'], name: ['AmazonCloudWatchAgent'] },
    });
    new ssm.CfnAssociation(this, 'ConfigureCloudWatchAgent', {
      name: 'AmazonCloudWatch-ManageAgent',
      associationName: `${EXAMPLE_GROUP_NAME}-configure-cloudwatch-agent`,
      targets,
      scheduleExpression: 'rate(30 minutes)',
      parameters: {
        action: ['configure'],
        mode: ['ec2'],
        optionalConfigurationSource: ['ssm'],
        optionalConfigurationLocation: [this.group.agentConfig.parameterName],
        optionalRestart: ['yes'],
      },
    });

    Validations.of(this.autoScalingGroup).acknowledge({
      id: 'AwsSolutions-AS3',
      reason:
        'Scaling events are consumed through lifecycle hooks and EventBridge by berth itself; no SNS notifications are needed.',
    });
  }
}
