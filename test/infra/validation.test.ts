import { App, Lazy, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import * as iam from 'aws-cdk-lib/aws-iam';
import type { IConstruct } from 'constructs';
import { groupSettings, withoutTokens } from '../../infra/defaults';
import { PARAMETER_PATTERNS } from '../../infra/document-content';
import { isPlainAbsolutePath, resolveSettings } from '../../lambdas/shared/config';
import { NodeSets } from '../../infra/node-sets';
import { readScripts } from '../../infra/agent-scripts';
import { StatefulNodeGroup, type StatefulNodeGroupProps } from '../../infra/stateful-node-group';

/** Builds the construct in a fresh stack (no bundling: these tests read annotations, not code). */
function build(props: Partial<StatefulNodeGroupProps> & { subnets?: number } = {}): StatefulNodeGroup {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', 'etcd');
  return new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup, filters: 'Service=etcd', ...props });
}

/** What `cdk synth` prints for the construct: its error annotations, one line each. */
function errorsOf(construct: IConstruct, type = 'aws:cdk:error'): string[] {
  return construct.node.metadata.filter((m) => m.type === type).map((m) => String(m.data));
}
const warningsOf = (construct: IConstruct) => errorsOf(construct, 'aws:cdk:warning');

function subnet(): ec2.ISubnet {
  const stack = new Stack();
  return ec2.Subnet.fromSubnetAttributes(stack, 'S', {
    subnetId: 'subnet-0123456789abcdef0',
    availabilityZone: 'eu-west-1a',
  });
}

function node(nodeId: string, volumeSizeGiB = 20, privateIp?: string) {
  return { nodeId, subnet: subnet(), volumeSizeGiB, ...(privateIp ? { privateIp } : {}) };
}

const sg = () => [ec2.SecurityGroup.fromSecurityGroupId(new Stack(), 'Sg', 'sg-12345678')];

describe('StatefulNodeGroup props validation', () => {
  it.each<[string, Partial<StatefulNodeGroupProps>, string]>([
    [
      'a relative mount point',
      { mountPoint: 'data' },
      'mountPoint: must be an absolute path without "..", spaces or shell characters (got "data"); e.g. /data',
    ],
    [
      'the root as mount point',
      { mountPoint: '/' },
      'mountPoint: "/" is a system directory; mount the data on a directory of its own such as /data or /var/lib/etcd',
    ],
    [
      'a mount point with a trailing slash',
      { mountPoint: '/data/' },
      'mountPoint: "/data/" does not match the SSM document pattern ^(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,127}){1,32}$',
    ],
    [
      'a mount point in a hidden directory',
      { mountPoint: '/data/.hidden' },
      'mountPoint: "/data/.hidden" does not match the SSM document pattern ^(/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,127}){1,32}$',
    ],
    [
      'an env file that is a directory',
      { envFile: '/etc/berth/' },
      'envFile: "/etc/berth/" is not a place berth writes as root (a *.env file at least one directory below /etc, /run, /var/lib, /opt or /srv); name a *.env file of its own outside the mount point, such as /etc/berth/node.env',
    ],
    [
      'a system file as env file',
      { envFile: '/etc/passwd' },
      'envFile: "/etc/passwd" is not a place berth writes as root (a *.env file at least one directory below /etc, /run, /var/lib, /opt or /srv); name a *.env file of its own outside the mount point, such as /etc/berth/node.env',
    ],
    [
      'an env file directly in /etc',
      { envFile: '/etc/node.env' },
      'envFile: "/etc/node.env" is not a place berth writes as root (a *.env file at least one directory below /etc, /run, /var/lib, /opt or /srv); name a *.env file of its own outside the mount point, such as /etc/berth/node.env',
    ],
    [
      'an env file inside the mount point',
      { mountPoint: '/var/lib/etcd', envFile: '/var/lib/etcd/conf/node.env' },
      'envFile: "/var/lib/etcd/conf/node.env" is inside the mount point /var/lib/etcd (the set\'s filesystem); name a *.env file of its own outside the mount point, such as /etc/berth/node.env',
    ],
    [
      'filters that do not parse',
      { filters: 'Env' },
      'filters: filter "Env" is not K=V: write tag filters as Key=Value, tag existence as tag-key=Key, separated by commas',
    ],
    [
      'the primary interface as ENI device index',
      { eniDeviceIndex: 0 },
      'eniDeviceIndex: must be an integer from 1 to 31 (got 0); index 0 is the primary interface, so use 1 or more',
    ],
    [
      'an unknown filesystem',
      { filesystem: 'zfs' as never },
      'filesystem: must be one of btrfs, ext4, xfs (got "zfs")',
    ],
    [
      'a unit name systemctl would read as an option',
      { serviceUnit: '-Hevil.service' },
      'serviceUnit: "-Hevil.service" does not match the SSM document pattern ^([A-Za-z0-9][A-Za-z0-9@._:-]{0,239}\\.(service|target|mount))?$',
    ],
    [
      'a service unit that is not a unit name',
      { serviceUnit: 'etcd; reboot' },
      'serviceUnit: must be a systemd unit name such as etcd.service (got "etcd; reboot")',
    ],
    [
      'a heartbeat outside the lifecycle hook range',
      { timeouts: { heartbeatSeconds: 10 } },
      'timeouts.heartbeatSeconds: must be an integer from 30 to 7200 (got 10); the lifecycle hook heartbeat range is 30–7200 s',
    ],
    [
      'add-device growth on xfs',
      { filesystem: 'xfs', growth: { strategy: 'add-device' } },
      'growth.strategy: add-device needs btrfs; with xfs use strategy "expand" (enlarge the volume in place)',
    ],
    [
      'a volume size beyond the EBS limit',
      { growth: { maxVolumeGiB: 20000 } },
      'growth.maxVolumeGiB: must be an integer from 1 to 16384 (got 20000); EBS gp3 volumes are 1–16384 GiB',
    ],
    [
      'a threshold of 0 %',
      { growth: { initialThresholdPercent: 0 } },
      'growth.initialThresholdPercent: must be an integer from 1 to 99 (got 0); a disk_used_percent threshold',
    ],
    [
      'a maximum threshold below the initial one',
      { growth: { initialThresholdPercent: 80, maxThresholdPercent: 70 } },
      'growth.maxThresholdPercent: 70 is below growth.initialThresholdPercent (80); raise growth.maxThresholdPercent or lower growth.initialThresholdPercent',
    ],
    [
      'an alarm period the agent cannot publish',
      { growth: { alarm: { periodSeconds: 45 } } },
      'growth.alarm.periodSeconds: must be 10, 30 (high-resolution metrics) or a multiple of 60 (got 45)',
    ],
    [
      'a key without encryption',
      { growth: { encrypted: false, kmsKeyId: '1234abcd-12ab-34cd-56ef-1234567890ab' } },
      'growth.kmsKeyId: needs encrypted: true and a key id or key ARN',
    ],
    [
      'no reserved concurrency at all (every event would be throttled)',
      { reservedConcurrency: 0 },
      "reservedConcurrency: must be at least 1 (got 0): a function with no reserved concurrency is throttled on every invocation, so its events would only ever reach the dead-letter queue (every launch abandoned); remove it to use the account's unreserved pool",
    ],
    [
      'no reserved concurrency for launch',
      { reservedConcurrency: { terminate: 4, launch: 0 } },
      "reservedConcurrency.launch: must be at least 1 (got 0): a function with no reserved concurrency is throttled on every invocation, so its events would only ever reach the dead-letter queue (every launch abandoned); remove it to use the account's unreserved pool",
    ],
    [
      'a fractional reserved concurrency',
      { reservedConcurrency: 2.5 },
      'reservedConcurrency: must be a whole number of concurrent executions, at least 1 (got 2.5)',
    ],
    [
      'reserved concurrency for a grow function a group without growth does not have',
      { reservedConcurrency: { grow: 2 } },
      'reservedConcurrency.grow: the group has no growth, so there is no grow function to reserve for; remove it or add growth',
    ],
    [
      'reserved concurrency for a function berth does not have',
      { reservedConcurrency: { lanch: 2 } as StatefulNodeGroupProps['reservedConcurrency'] },
      'reservedConcurrency.lanch: lanch is not a berth function; use launch, terminate, grow or reconcile',
    ],
    [
      'a reconciler period of 0 minutes',
      { reconcileEveryMinutes: 0 },
      'reconcileEveryMinutes: must be whole minutes from 1 to 1440 (got 0 minutes)',
    ],
    [
      'a host-step timeout no invocation can wait to its end',
      { timeouts: { commandSeconds: 900 } },
      'timeouts.commandSeconds: must be at most 780 s (got 900 s): a host step must end within one 900 s function invocation less the 120 s a launch keeps back to hand over before its deadline; lower it to 780 or less',
    ],
    [
      'a quiesce wait that leaves no time to unmount before the document times out',
      { timeouts: { quiesceSeconds: 600 } },
      'timeouts.quiesceSeconds: must be at most 570 s, timeouts.commandSeconds (600 s) less 30 s (got 600 s): quiesce-node must stop the unit, sync and unmount after its wait, before SSM stops the document at its timeoutSeconds; lower it or raise timeouts.commandSeconds',
    ],
    [
      'a quiesce wait longer than a shortened document timeout allows',
      { timeouts: { commandSeconds: 120, quiesceSeconds: 100 } },
      'timeouts.quiesceSeconds: must be at most 90 s, timeouts.commandSeconds (120 s) less 30 s (got 100 s): quiesce-node must stop the unit, sync and unmount after its wait, before SSM stops the document at its timeoutSeconds; lower it or raise timeouts.commandSeconds',
    ],
    [
      'an owner tag key in the reserved aws: namespace',
      { ownerTagKey: 'aws:group' },
      'ownerTagKey: must be a tag key of 1–128 characters not starting with "aws:" (got "aws:group")',
    ],
  ])('refuses %s', (_what, props, message) => {
    expect(errorsOf(build(props))).toEqual([message]);
  });

  it.each<[string, Partial<StatefulNodeGroupProps>, string]>([
    [
      'an empty volume',
      { nodes: [node('etcd-0', 0)] },
      'nodes[0].volumeSizeGiB: must be an integer from 1 to 16384 (got 0); EBS gp3 volumes are 1–16384 GiB',
    ],
    [
      'a volume beyond the EBS limit',
      { nodes: [node('etcd-0', 16385)] },
      'nodes[0].volumeSizeGiB: must be an integer from 1 to 16384 (got 16385); EBS gp3 volumes are 1–16384 GiB',
    ],
    [
      'two nodes with one NodeID',
      { nodes: [node('etcd-0'), node('etcd-0')] },
      'nodes[1].nodeId: "etcd-0" is used by another node; NodeIDs must be unique',
    ],
    [
      'a NodeID the documents would refuse',
      { nodes: [node('etcd 0')] },
      'nodes[0].nodeId: must be 1–128 letters, digits or ._:@+=- (got "etcd 0")',
    ],
    [
      'a private IP that is not IPv4',
      { nodes: [node('etcd-0', 20, '10.0.0.300')] },
      'nodes[0].privateIp: must be an IPv4 address (got "10.0.0.300")',
    ],
    [
      'nodes in a scratch group',
      { nodeSets: false, growth: { scratch: { enabled: true } }, nodes: [node('etcd-0')] },
      'nodes: a scratch group (nodeSets: false) has no node sets to create; remove nodes',
    ],
  ])('refuses node sets with %s', (_what, props, message) => {
    expect(errorsOf(build({ nodeSecurityGroups: sg(), ...props }))).toEqual([message]);
  });

  it('refuses nodes without a security group for their ENIs', () => {
    expect(errorsOf(build({ nodes: [node('etcd-0')] }))).toEqual([
      'nodeSecurityGroups: the ENIs of the nodes need at least one security group',
    ]);
  });

  it('skips values that are unresolved tokens and validates the rest', () => {
    const token = Lazy.string({ produce: () => '/data' });
    const props = withoutTokens({ mountPoint: token, filesystem: 'btrfs' });
    expect(props).toEqual({ filesystem: 'btrfs' });
    expect(() =>
      groupSettings(
        'etcd',
        { mountPoint: token },
        { prepareNode: 'a-b-c', quiesceNode: 'd-e-f', growFilesystem: 'g-h-i' },
      ),
    ).not.toThrow();
    expect(() =>
      groupSettings(
        Lazy.string({ produce: () => 'etcd' }),
        { mountPoint: token, eniDeviceIndex: 0 },
        undefined,
      ),
    ).toThrow('eniDeviceIndex: must be an integer from 1 to 31 (got 0)');
  });
});

describe('safe props (issue 12): each mistake is one error line naming the prop, the value and the fix', () => {
  it.each<[string, Partial<StatefulNodeGroupProps>, string]>([
    [
      "a group name that is not the group's",
      { autoScalingGroupName: 'etcd-prod' },
      'autoScalingGroupName: "etcd-prod" is not the name of autoScalingGroup ("etcd"); remove autoScalingGroupName or make the two agree',
    ],
    [
      'no filters at all',
      { filters: '' },
      'filters: "" names no tag value; give at least one Key=Value (e.g. "Env=prod,Service=etcd") so that only this cluster\'s volumes and ENIs can be attached',
    ],
    [
      'filters with tag existence only',
      { filters: 'tag-key=Project,availability-zone=eu-west-1a' },
      'filters: "tag-key=Project,availability-zone=eu-west-1a" names no tag value; give at least one Key=Value (e.g. "Env=prod,Service=etcd") so that only this cluster\'s volumes and ENIs can be attached',
    ],
    [
      'a wildcard tag value',
      { filters: 'Service=etcd*' },
      'filters: the value "etcd*" of tag Service holds a wildcard (* or ?); name the exact tag value',
    ],
    [
      'a tag key in the aws: namespace',
      { filters: 'AWS:cloudformation:stack-name=x' },
      'filters: tag key "AWS:cloudformation:stack-name" starts with "aws:", which EC2 reserves',
    ],
    [
      'a tag value EC2 refuses',
      { filters: 'Service=etcd;prod' },
      'filters: the value "etcd;prod" of tag Service holds a character EC2 tags refuse (allowed: letters, digits, spaces and + - = . _ : / @)',
    ],
    [
      'a tag value longer than 256 characters',
      { filters: `Service=${'e'.repeat(257)}` },
      `filters: the value "${'e'.repeat(257)}" of tag Service is longer than EC2's 256 characters`,
    ],
    [
      'a KMS key that is no id or ARN',
      { growth: { kmsKeyId: 'berth-key' } },
      'growth.kmsKeyId: "berth-key" is not a KMS key id or key ARN; write e.g. 1234abcd-12ab-34cd-56ef-1234567890ab or arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    ],
    [
      'a KMS key ARN of another service',
      { growth: { kmsKeyId: 'arn:aws:iam::111122223333:role/x' } },
      'growth.kmsKeyId: "arn:aws:iam::111122223333:role/x" is not a KMS key id or key ARN; write e.g. 1234abcd-12ab-34cd-56ef-1234567890ab or arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    ],
    [
      "growth's KMS key named by alias ARN (a policy naming it would match the alias, not the key)",
      { growth: { kmsKeyId: 'arn:aws:kms:eu-west-1:111122223333:alias/ebs-etcd' } },
      `growth.kmsKeyId: "arn:aws:kms:eu-west-1:111122223333:alias/ebs-etcd" is an alias; an IAM policy naming an alias matches the alias, not its key, so EBS could not use the key for berth's functions: give the key ARN (e.g. arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab; aws kms describe-key --key-id arn:aws:kms:eu-west-1:111122223333:alias/ebs-etcd prints it)`,
    ],
    [
      "growth's KMS key named by alias",
      { growth: { kmsKeyId: 'alias/ebs-etcd' } },
      `growth.kmsKeyId: "alias/ebs-etcd" is an alias; an IAM policy naming an alias matches the alias, not its key, so EBS could not use the key for berth's functions: give the key ARN (e.g. arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab; aws kms describe-key --key-id alias/ebs-etcd prints it)`,
    ],
    [
      'a key of the sets named by alias ARN',
      {
        kmsKeys: [
          'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
          'arn:aws:kms:eu-west-1:111122223333:alias/etcd-data',
        ],
      },
      `kmsKeys[1]: "arn:aws:kms:eu-west-1:111122223333:alias/etcd-data" is an alias; an IAM policy naming an alias matches the alias, not its key, so EBS could not use the key for berth's functions: give the key ARN (e.g. arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab; aws kms describe-key --key-id arn:aws:kms:eu-west-1:111122223333:alias/etcd-data prints it)`,
    ],
    [
      'a key of the sets that is no key ARN',
      { kmsKeys: ['1234abcd-12ab-34cd-56ef-1234567890ab'] },
      'kmsKeys[0]: "1234abcd-12ab-34cd-56ef-1234567890ab" is not a KMS key ARN; write e.g. arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    ],
    [
      'io2 volumes without IOPS',
      { growth: { volumeType: 'io2' } },
      'growth.iops: io2 volumes need provisioned IOPS; set growth.iops (100–256000)',
    ],
    [
      'gp3 IOPS above the gp3 range',
      { growth: { iops: 90000 } },
      'growth.iops: must be an integer from 3000 to 80000 (got 90000); the gp3 IOPS range',
    ],
    [
      'IOPS on a volume type that takes none',
      { growth: { volumeType: 'st1', iops: 500 } },
      'growth.iops: st1 volumes take no IOPS setting (got 500); remove it or use gp3, io1 or io2',
    ],
    [
      'io1 IOPS above the io1 range',
      { growth: { volumeType: 'io1', iops: 100000 } },
      'growth.iops: must be an integer from 100 to 64000 (got 100000); the io1 IOPS range',
    ],
    [
      'gp3 throughput above the gp3 range',
      { growth: { throughput: 2500 } },
      'growth.throughput: must be an integer from 125 to 2000 (got 2500); gp3 throughput is 125–2000 MiB/s',
    ],
    [
      'a total limit smaller than the first added volume',
      { growth: { maxTotalGiB: 100 } },
      'growth.maxTotalGiB: 100 GiB is smaller than growth.minVolumeGiB (150 GiB): not even one volume could be added; raise growth.maxTotalGiB or lower growth.minVolumeGiB',
    ],
    [
      'a mount point on /var',
      { mountPoint: '/var' },
      'mountPoint: "/var" is a system directory; mount the data on a directory of its own such as /data or /var/lib/etcd',
    ],
    [
      'a mount point inside /etc',
      { mountPoint: '/etc/etcd' },
      'mountPoint: "/etc/etcd" is inside the system directory /etc; mount the data on a directory of its own such as /data or /var/lib/etcd',
    ],
    [
      'a mount point inside /lib64',
      { mountPoint: '/lib64/data' },
      'mountPoint: "/lib64/data" is inside the system directory /lib64; mount the data on a directory of its own such as /data or /var/lib/etcd',
    ],
    [
      'a mount point on /home',
      { mountPoint: '/home' },
      'mountPoint: "/home" is a system directory; mount the data on a directory of its own such as /data or /var/lib/etcd',
    ],
  ])('refuses %s', (_what, props, message) => {
    expect(errorsOf(build(props))).toEqual([message]);
  });

  it('accepts the KMS key forms a policy can name (key ids and key ARNs) and a data directory below a system one', () => {
    for (const kmsKeyId of [
      '1234abcd-12ab-34cd-56ef-1234567890ab',
      'mrk-1234abcd12ab34cd56ef1234567890ab',
      'arn:aws:kms:eu-west-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab',
      'arn:aws-us-gov:kms:us-gov-west-1:111122223333:key/mrk-1234abcd12ab34cd56ef1234567890ab',
    ])
      expect({ kmsKeyId, errors: errorsOf(build({ growth: { kmsKeyId } })) }).toEqual({
        kmsKeyId,
        errors: [],
      });
    for (const mountPoint of ['/var/lib/etcd', '/home/kafka', '/data', '/srv/zk'])
      expect({ mountPoint, errors: errorsOf(build({ mountPoint })) }).toEqual({ mountPoint, errors: [] });
  });

  it('names a node that is bigger than the total limit, and the limit', () => {
    const group = build({
      nodeSecurityGroups: sg(),
      nodes: [node('etcd-0', 500)],
      growth: { strategy: 'expand', maxTotalGiB: 400 },
      filesystem: 'xfs',
    });
    expect(errorsOf(group)).toEqual([
      'nodes[0].volumeSizeGiB: 500 GiB is larger than growth.maxTotalGiB (400 GiB), so the node could never grow; raise growth.maxTotalGiB or make the volume smaller',
    ]);
  });

  it('reports every mistake at once and builds no node set while any remains', () => {
    const group = build({
      autoScalingGroupName: 'other',
      reconcileEveryMinutes: 0,
      nodes: [node('etcd-0')],
      nodeSecurityGroups: sg(),
      growth: { iops: 1 },
    });
    expect(errorsOf(group)).toEqual([
      'autoScalingGroupName: "other" is not the name of autoScalingGroup ("etcd"); remove autoScalingGroupName or make the two agree',
      'growth.iops: must be an integer from 3000 to 80000 (got 1); the gp3 IOPS range',
      'reconcileEveryMinutes: must be whole minutes from 1 to 1440 (got 0 minutes)',
    ]);
    expect(group.nodeSets).toBeUndefined();
    expect(Template.fromStack(Stack.of(group)).findResources('AWS::EC2::Volume')).toEqual({});
  });

  it('says at synth that an imported instance role cannot get the SSM managed policy, with the fix', () => {
    const group = build({
      instanceRole: iam.Role.fromRoleName(new Stack(), 'Imported', 'etcd-node'),
    });
    expect(errorsOf(group)).toEqual([]);
    expect(warningsOf(group)).toEqual([
      'instanceRole: etcd-node is imported, so berth cannot attach the managed policy AmazonSSMManagedInstanceCore to it (its inline grants are added); attach that policy to the role where it is defined, or pass a role created in this app [ack: berth:imported-instance-role]',
    ]);
    const stack = new Stack();
    const own = new iam.Role(stack, 'Own', { assumedBy: new iam.ServicePrincipal('ec2.amazonaws.com') });
    expect(warningsOf(build({ instanceRole: own }))).toEqual([]);
  });

  it('checks a path in linear time: the input that made the old regex backtrack returns in under 50 ms', () => {
    // 37 characters ending in a space: /^\/(?:[A-Za-z0-9._@+-]+\/?)*$/ took over a minute on it.
    const evil = `/${'a'.repeat(35)} `;
    expect(evil).toHaveLength(37);
    const refusal = (input: Parameters<typeof resolveSettings>[0]) => {
      try {
        resolveSettings(input);
        return 'accepted';
      } catch (error) {
        return (error as Error).message;
      }
    };
    expect(isPlainAbsolutePath(evil)).toBe(false);
    expect(refusal({ groupName: 'etcd', mountPoint: evil })).toMatch(/^mountPoint: must be an absolute path/);
    // The best of five runs: the time of the check, not of a loaded machine's scheduler.
    const milliseconds = (run: () => unknown) =>
      Math.min(
        ...[1, 2, 3, 4, 5].map(() => {
          const started = process.hrtime.bigint();
          run();
          return Number(process.hrtime.bigint() - started) / 1e6;
        }),
      );
    expect(milliseconds(() => refusal({ groupName: 'etcd', mountPoint: evil }))).toBeLessThan(50);
    expect(
      milliseconds(() => refusal({ groupName: 'etcd', envFile: `/${'a/'.repeat(2000)} ` })),
    ).toBeLessThan(50);
  });

  it('checks the SSM documents\' path pattern (run at synth) in linear time too: each component starts with "/"', () => {
    const pattern = new RegExp(PARAMETER_PATTERNS.path);
    const evil = `${'/a'.repeat(31)}/${'a'.repeat(127)} `;
    expect(pattern.test(evil)).toBe(false);
    const started = process.hrtime.bigint();
    pattern.test(evil);
    pattern.test(`/${'a'.repeat(35)} `);
    expect(Number(process.hrtime.bigint() - started) / 1e6).toBeLessThan(50);
  });
});

describe('reading the host scripts', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-scripts-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const writeAll = (text: string) => {
    for (const file of ['prepare-node.sh', 'grow-filesystem.sh', 'quiesce-node.sh'])
      writeFileSync(join(dir, file), text);
  };

  it('reads the three scripts byte for byte', () => {
    writeAll('#!/usr/bin/env bash\necho "$SSM_MountPoint"\n');
    expect(readScripts(dir)).toEqual({
      prepareNode: '#!/usr/bin/env bash\necho "$SSM_MountPoint"\n',
      growFilesystem: '#!/usr/bin/env bash\necho "$SSM_MountPoint"\n',
      quiesceNode: '#!/usr/bin/env bash\necho "$SSM_MountPoint"\n',
    });
  });

  it('refuses a script that sh would run instead of bash', () => {
    writeAll('#!/bin/sh\necho hi\n');
    expect(() => readScripts(dir)).toThrow(
      'agent-scripts: prepare-node.sh must start with "#!/usr/bin/env bash" (SSM runs it through its shebang)',
    );
  });

  it('refuses a script that SSM would interpolate', () => {
    writeAll('#!/usr/bin/env bash\necho {{ MountPoint }}\n');
    expect(() => readScripts(dir)).toThrow(
      'agent-scripts: prepare-node.sh must not contain "{{": SSM would interpolate it',
    );
  });

  it('names the missing script', () => {
    expect(() => readScripts(dir)).toThrow(/^agent-scripts: cannot read prepare-node.sh from /);
  });
});

describe('NodeSets on its own', () => {
  it("tags a set's volume and ENI so that K=V and tag-key filters select them", () => {
    const stack = new Stack(new App(), 'Sets', { env: { account: '111111111111', region: 'eu-west-1' } });
    const sets = new NodeSets(stack, 'Sets', {
      groupName: 'zk',
      filters: 'Service=zk,tag-key=Project,availability-zone=eu-west-1a',
      nodes: [node('zk-1', 50, '10.0.0.11')],
      securityGroups: [ec2.SecurityGroup.fromSecurityGroupId(stack, 'Sg', 'sg-12345678')],
      kmsKeyId: 'alias/zk',
    });
    expect(sets.sets.map((s) => s.nodeId)).toEqual(['zk-1']);
    const t = Template.fromStack(stack);
    const only = (type: string) => {
      const found = Object.values(t.findResources(type)) as { Properties: Record<string, unknown> }[];
      expect(found).toHaveLength(1);
      const properties = found[0]?.Properties ?? {};
      const tags = Object.fromEntries(
        (properties.Tags as { Key: string; Value: string }[]).map((tag) => [tag.Key, tag.Value]),
      );
      return { properties, tags };
    };
    const volume = only('AWS::EC2::Volume');
    expect(volume.properties).toMatchObject({
      Size: 50,
      Encrypted: true,
      KmsKeyId: 'alias/zk',
      AvailabilityZone: 'eu-west-1a',
    });
    expect(volume.tags).toEqual({
      Service: 'zk',
      Project: '',
      'berth:group': 'zk',
      NodeID: 'zk-1',
      'berth:ordinal': '0',
    });
    const eni = only('AWS::EC2::NetworkInterface');
    expect(eni.properties).toMatchObject({
      SubnetId: 'subnet-0123456789abcdef0',
      PrivateIpAddress: '10.0.0.11',
      GroupSet: ['sg-12345678'],
    });
    expect(eni.tags).toEqual({ Service: 'zk', Project: '', 'berth:group': 'zk', NodeID: 'zk-1' });
  });
});
