import { App, Lazy, Stack } from 'aws-cdk-lib';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as ec2 from 'aws-cdk-lib/aws-ec2';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Template } from 'aws-cdk-lib/assertions';
import { groupSettings, withoutTokens } from '../../infra/defaults';
import { NodeSets } from '../../infra/node-sets';
import { readScripts, StatefulNodeGroup, type StatefulNodeGroupProps } from '../../infra/stateful-node-group';

/** Builds the construct in a fresh stack; validation runs before anything is bundled. */
function build(props: Partial<StatefulNodeGroupProps> & { subnets?: number } = {}): StatefulNodeGroup {
  const stack = new Stack(new App(), 'Test', { env: { account: '111111111111', region: 'eu-west-1' } });
  const autoScalingGroup = autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'Group', 'etcd');
  return new StatefulNodeGroup(stack, 'Berth', { autoScalingGroup, ...props });
}

function subnet(): ec2.ISubnet {
  const stack = new Stack();
  return ec2.Subnet.fromSubnetAttributes(stack, 'S', {
    subnetId: 'subnet-1',
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
      'mountPoint: must not be "/"; use a directory such as /data',
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
      'an env file outside the document pattern',
      { envFile: '/etc/berth/' },
      'envFile: "/etc/berth/" does not match the SSM document pattern ^((/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,127}){1,32})?$',
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
      'growth.maxThresholdPercent: must be at least initialThresholdPercent (80)',
    ],
    [
      'an alarm period the agent cannot publish',
      { growth: { alarm: { periodSeconds: 45 } } },
      'growth.alarm.periodSeconds: must be 10, 30 (high-resolution metrics) or a multiple of 60 (got 45)',
    ],
    [
      'a key without encryption',
      { growth: { encrypted: false, kmsKeyId: 'alias/berth' } },
      'growth.kmsKeyId: needs encrypted: true and a key id, alias or ARN',
    ],
    [
      'a reconciler period of 0 minutes',
      { reconcileEveryMinutes: 0 },
      'reconcileEveryMinutes: must be whole minutes from 1 to 1440 (got 0 minutes)',
    ],
    [
      'an owner tag key in the reserved aws: namespace',
      { ownerTagKey: 'aws:group' },
      'ownerTagKey: must be a tag key of 1–128 characters not starting with "aws:" (got "aws:group")',
    ],
  ])('refuses %s', (_what, props, message) => {
    expect(() => build(props)).toThrow(message);
    expect(() => build(props)).toThrow(expect.objectContaining({ message }));
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
    expect(() => build({ nodeSecurityGroups: sg(), ...props })).toThrow(expect.objectContaining({ message }));
  });

  it('refuses nodes without a security group for their ENIs', () => {
    expect(() => build({ nodes: [node('etcd-0')] })).toThrow(
      expect.objectContaining({
        message: 'nodeSecurityGroups: the ENIs of the nodes need at least one security group',
      }),
    );
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
      SubnetId: 'subnet-1',
      PrivateIpAddress: '10.0.0.11',
      GroupSet: ['sg-12345678'],
    });
    expect(eni.tags).toEqual({ Service: 'zk', Project: '', 'berth:group': 'zk', NodeID: 'zk-1' });
  });
});
