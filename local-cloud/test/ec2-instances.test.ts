import {
  AttachNetworkInterfaceCommand,
  AttachVolumeCommand,
  CreateTagsCommand,
  DeleteTagsCommand,
  DescribeAvailabilityZonesCommand,
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeSubnetsCommand,
  DetachVolumeCommand,
  DescribeInstanceTypesCommand,
  DescribeVolumesCommand,
  ModifyInstanceAttributeCommand,
  TerminateInstancesCommand,
} from '@aws-sdk/client-ec2';
import { EC2_REQUEST_BUCKETS } from '../src/ec2';
import { LocalCloud } from '../src/index';
import { AZ_A, AZ_B, awsError, ec2Fixture } from './ec2-fixture';

describe('EC2 instances in the local cloud', () => {
  it('gives instance ids of the form EC2 gives today, i-0 and 16 lowercase hex digits, the same for a seed', () => {
    // EC2 API reference: instance ids such as i-1234567890abcdef0 (17 characters after i-); every
    // instance launched today has one beginning i-0
    const ids = (seed: number) => {
      const cloud = new LocalCloud({ seed });
      const { subnets } = cloud.ec2.seedNetwork({ azs: [AZ_A] });
      return Array.from({ length: 64 }, () => cloud.ec2.runInstance({ subnetId: subnets[AZ_A] ?? '' }));
    };
    const first = ids(3);
    for (const id of first) expect(id).toMatch(/^i-0[0-9a-f]{16}$/);
    expect(new Set(first.map((id) => id[3])).size).toBeGreaterThan(8); // the digit after i-0 varies
    expect(ids(3)).toEqual(first);
    expect(ids(4)).not.toEqual(first);
  });

  it('answers InvalidInstanceID.NotFound right after the launch while timing.consistencyMs runs', async () => {
    // EC2 API reference, "Eventual consistency": a resource just created may not be found yet
    const { cloud, ec2, subnets } = ec2Fixture();
    cloud.ec2.timing.consistencyMs = 1000;
    const instanceId = cloud.ec2.runInstance({ subnetId: subnets[AZ_A] ?? '' });

    const early = await awsError(ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })));
    const listedEarly = (await ec2.send(new DescribeInstancesCommand({}))).Reservations ?? [];
    cloud.clock.advance(1000);
    const later = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));

    expect(early.name).toBe('InvalidInstanceID.NotFound');
    expect(listedEarly).toHaveLength(0);
    expect(later.Reservations?.[0]?.Instances?.[0]?.InstanceId).toBe(instanceId);
  });

  it('hands out queued instance ids of another form (the 8-digit ids of older instances) before generated ones', () => {
    const { cloud, subnets } = ec2Fixture();
    cloud.ec2.nextInstanceIds(['i-1a2b3c4d']);
    const launch = () => cloud.ec2.runInstance({ subnetId: subnets[AZ_A] ?? '' });
    expect([launch(), launch()]).toEqual(['i-1a2b3c4d', expect.stringMatching(/^i-0[0-9a-f]{16}$/)]);
    expect(() => cloud.ec2.nextInstanceIds(['i-1a2b3c4d'])).toThrow('not an unused instance id');
  });

  it('boots a seeded instance from pending to running and describes it with its devices and interfaces', async () => {
    const { cloud, ec2, subnets, vpcId } = ec2Fixture();
    const instanceId = cloud.ec2.runInstance({
      subnetId: subnets[AZ_B] ?? '',
      instanceType: 'm7g.large',
      tags: { Name: 'etcd' },
      privateIp: '10.0.16.10',
    });
    const describe = async () =>
      (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }))).Reservations?.[0]
        ?.Instances?.[0];

    const pending = await describe();
    cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
    const running = await describe();

    expect(instanceId).toMatch(/^i-0[0-9a-f]{16}$/);
    expect(pending?.State).toEqual({ Code: 0, Name: 'pending' });
    expect(running).toMatchObject({
      InstanceId: instanceId,
      InstanceType: 'm7g.large',
      State: { Code: 16, Name: 'running' },
      Placement: { AvailabilityZone: AZ_B },
      SubnetId: subnets[AZ_B],
      VpcId: vpcId,
      PrivateIpAddress: '10.0.16.10',
      Tags: [{ Key: 'Name', Value: 'etcd' }],
      BlockDeviceMappings: [
        { DeviceName: '/dev/xvda', Ebs: { Status: 'attached', DeleteOnTermination: true } },
      ],
      NetworkInterfaces: [
        {
          PrivateIpAddress: '10.0.16.10',
          Attachment: { DeviceIndex: 0, Status: 'attached', DeleteOnTermination: true },
        },
      ],
    });
    expect(running?.LaunchTime?.getTime()).toBe(cloud.clock.now() - cloud.ec2.timing.instanceBootMs);
  });

  it('filters instances by state, tag, availability zone and subnet, and pages them', async () => {
    const { cloud, ec2, subnets, running, vpcId } = ec2Fixture();
    const inA = [
      running({ tags: { Role: 'etcd' } }),
      running({ tags: { Role: 'etcd' } }),
      running({ tags: { Role: 'web' } }),
    ];
    const inB = running({ az: AZ_B, tags: { Role: 'etcd' } });
    const extra = running({ az: AZ_B });
    const pending = cloud.ec2.runInstance({ subnetId: subnets[AZ_A] ?? '', tags: { Role: 'etcd' } });
    const ids = async (filters: { Name: string; Values: string[] }[]) =>
      ((await ec2.send(new DescribeInstancesCommand({ Filters: filters }))).Reservations ?? [])
        .flatMap((r) => r.Instances ?? [])
        .map((i) => i.InstanceId);

    const runningEtcdInA = await ids([
      { Name: 'instance-state-name', Values: ['running'] },
      { Name: 'tag:Role', Values: ['etcd'] },
      { Name: 'availability-zone', Values: [AZ_A] },
    ]);
    const inSubnetB = await ids([{ Name: 'subnet-id', Values: [subnets[AZ_B] ?? ''] }]);
    const pendingOnes = await ids([{ Name: 'instance-state-code', Values: ['0'] }]);
    const byVpc = [{ Name: 'vpc-id', Values: [vpcId] }];
    const page1 = await ec2.send(new DescribeInstancesCommand({ MaxResults: 5, Filters: byVpc }));
    const page2 = await ec2.send(
      new DescribeInstancesCommand({ MaxResults: 5, Filters: byVpc, NextToken: page1.NextToken }),
    );
    const combined = await awsError(
      ec2.send(new DescribeInstancesCommand({ InstanceIds: inA, MaxResults: 5 })),
    );

    expect(runningEtcdInA).toEqual(inA.slice(0, 2));
    expect(inSubnetB).toEqual([inB, extra]);
    expect(pendingOnes).toEqual([pending]);
    expect(page1.Reservations).toHaveLength(5);
    expect(page2.Reservations?.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId)).toEqual([pending]);
    expect(page2.NextToken).toBeUndefined();
    expect(combined.name).toBe('InvalidParameterCombination');
  });

  it('answers InvalidInstanceID.NotFound and .Malformed', async () => {
    const { ec2 } = ec2Fixture();

    const unknown = await awsError(
      ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-0123456789abcdef0'] })),
    );
    const malformed = await awsError(ec2.send(new DescribeInstancesCommand({ InstanceIds: ['i-zz'] })));

    expect(unknown).toEqual({
      name: 'InvalidInstanceID.NotFound',
      message: "The instance ID 'i-0123456789abcdef0' does not exist",
    });
    expect(malformed.name).toBe('InvalidInstanceID.Malformed');
  });

  it('describes instance types with their EBS attachment limit type and interface limits', async () => {
    const { ec2 } = ec2Fixture();

    const { InstanceTypes } = await ec2.send(
      new DescribeInstanceTypesCommand({ InstanceTypes: ['m5.large', 'm7i.48xlarge', 't3.micro'] }),
    );
    const unknown = await awsError(
      ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ['x9.huge' as never] })),
    );

    expect(
      InstanceTypes?.map((t) => [
        t.InstanceType,
        t.EbsInfo?.AttachmentLimitType,
        t.EbsInfo?.MaximumEbsAttachments,
        t.NetworkInfo?.MaximumNetworkInterfaces,
      ]),
    ).toEqual([
      ['m5.large', 'shared', 28, 3],
      ['m7i.48xlarge', 'dedicated', 128, 50],
      ['t3.micro', 'shared', 28, 2],
    ]);
    expect(unknown.name).toBe('InvalidInstanceType');
  });

  it('counts ENIs and the root volume against a shared attachment limit, but not against a dedicated one', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const shared = running({ instanceType: 'm5.large' });
    const dedicated = running({ instanceType: 'm7i.48xlarge' });
    const eni = cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' });
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eni, InstanceId: shared, DeviceIndex: 1 }),
    );
    const devices = Array.from(
      { length: 26 },
      (_, n) =>
        `/dev/xvd${String.fromCharCode(98 + Math.floor(n / 26))}${String.fromCharCode(97 + (n % 26))}`,
    );
    // shared: root + 2 ENIs + 25 data volumes = 28 attachments
    for (const device of devices.slice(0, 25)) {
      await ec2.send(
        new AttachVolumeCommand({
          VolumeId: cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
          InstanceId: shared,
          Device: device,
        }),
      );
    }
    for (const device of devices) {
      await ec2.send(
        new AttachVolumeCommand({
          VolumeId: cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
          InstanceId: dedicated,
          Device: device,
        }),
      );
    }

    const error = await awsError(
      ec2.send(
        new AttachVolumeCommand({
          VolumeId: cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
          InstanceId: shared,
          Device: devices[25] ?? '',
        }),
      ),
    );

    expect(error.name).toBe('AttachmentLimitExceeded');
    expect(cloud.ec2.instance(shared)?.volumes).toHaveLength(26);
    expect(cloud.ec2.instance(dedicated)?.volumes).toHaveLength(27);
  });

  it('sets DeleteOnTermination of an attached volume with ModifyInstanceAttribute', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    await ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );

    await ec2.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: instanceId,
        BlockDeviceMappings: [
          { DeviceName: '/dev/sdf', Ebs: { VolumeId: volumeId, DeleteOnTermination: true } },
        ],
      }),
    );
    const unmapped = await awsError(
      ec2.send(
        new ModifyInstanceAttributeCommand({
          InstanceId: instanceId,
          BlockDeviceMappings: [{ DeviceName: '/dev/sdz', Ebs: { DeleteOnTermination: true } }],
        }),
      ),
    );

    expect(cloud.ec2.volume(volumeId)?.attachments[0]?.deleteOnTermination).toBe(true);
    expect(unmapped.name).toBe('InvalidInstanceAttributeValue');
  });

  it('terminates an instance: deletes DeleteOnTermination volumes and the primary ENI, frees the rest', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running();
    const kept = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    const scratch = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    const eni = cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' });
    await ec2.send(new AttachVolumeCommand({ VolumeId: kept, InstanceId: instanceId, Device: '/dev/sdf' }));
    await ec2.send(
      new AttachVolumeCommand({ VolumeId: scratch, InstanceId: instanceId, Device: '/dev/sdg' }),
    );
    await ec2.send(
      new ModifyInstanceAttributeCommand({
        InstanceId: instanceId,
        BlockDeviceMappings: [{ DeviceName: '/dev/sdg', Ebs: { DeleteOnTermination: true } }],
      }),
    );
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eni, InstanceId: instanceId, DeviceIndex: 1 }),
    );
    cloud.clock.advance(cloud.ec2.timing.attachMs);
    const before = cloud.ec2.instance(instanceId);
    const primaryEni = before?.networkInterfaces.find((n) => n.deviceIndex === 0)?.networkInterfaceId ?? '';
    const rootVolume = before?.volumes.find((v) => v.device === '/dev/xvda')?.volumeId ?? '';

    cloud.ec2.terminateInstance(instanceId);
    const shuttingDown = cloud.ec2.instanceState(instanceId);
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);

    expect(shuttingDown).toBe('shutting-down');
    expect(cloud.ec2.instance(instanceId)).toMatchObject({
      state: 'terminated',
      volumes: [],
      networkInterfaces: [],
    });
    expect(cloud.ec2.volume(kept)).toMatchObject({ state: 'available', attachments: [] });
    expect(cloud.ec2.volume(scratch)).toBeUndefined();
    expect(cloud.ec2.volume(rootVolume)).toBeUndefined();
    expect(cloud.ec2.networkInterface(eni)).toMatchObject({ state: 'available' });
    expect(cloud.ec2.networkInterface(primaryEni)).toBeUndefined();
    const described = (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))
      .Reservations?.[0]?.Instances?.[0];
    expect(described?.State).toEqual({ Code: 48, Name: 'terminated' });
    cloud.clock.advance(3600_000);
    expect((await awsError(ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] })))).name).toBe(
      'InvalidInstanceID.NotFound',
    );
  });

  it('terminates through TerminateInstances as well', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();

    const { TerminatingInstances } = await ec2.send(
      new TerminateInstancesCommand({ InstanceIds: [instanceId] }),
    );

    expect(TerminatingInstances?.[0]).toMatchObject({
      CurrentState: { Name: 'shutting-down' },
      PreviousState: { Name: 'running' },
    });
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
    expect(cloud.ec2.instance(instanceId)?.state).toBe('terminated');
  });
});

describe('EC2 network, DryRun and unknown operations in the local cloud', () => {
  it('describes the seeded availability zones and subnets', async () => {
    const { ec2, subnets, vpcId } = ec2Fixture();

    const { AvailabilityZones } = await ec2.send(new DescribeAvailabilityZonesCommand({}));
    const { Subnets } = await ec2.send(
      new DescribeSubnetsCommand({ Filters: [{ Name: 'availability-zone', Values: [AZ_B] }] }),
    );

    expect(AvailabilityZones?.map((z) => [z.ZoneName, z.ZoneId, z.State])).toEqual([
      [AZ_A, 'euw1-az1', 'available'],
      [AZ_B, 'euw1-az2', 'available'],
    ]);
    expect(Subnets).toEqual([
      expect.objectContaining({ SubnetId: subnets[AZ_B], VpcId: vpcId, CidrBlock: '10.0.16.0/20' }),
    ]);
  });

  it('answers DryRunOperation to a DryRun request and changes nothing', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const error = await awsError(
      ec2.send(
        new AttachVolumeCommand({
          VolumeId: volumeId,
          InstanceId: instanceId,
          Device: '/dev/sdf',
          DryRun: true,
        }),
      ),
    );

    expect(error.name).toBe('DryRunOperation');
    expect(cloud.ec2.volume(volumeId)?.state).toBe('available');
  });

  it('refuses to detach the root volume of a running instance', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const root = cloud.ec2.instance(instanceId)?.volumes[0]?.volumeId;

    const error = await awsError(ec2.send(new DetachVolumeCommand({ VolumeId: root, Force: true })));

    expect(error.name).toBe('OperationNotPermitted');
  });

  it('answers InvalidAction for an operation the local cloud does not model', async () => {
    const { ec2 } = ec2Fixture();

    const error = await awsError(ec2.send(new DescribeImagesCommand({})));

    expect(error.name).toBe('InvalidAction');
  });
});

describe('EC2 request token buckets in the local cloud', () => {
  it('answers RequestLimitExceeded once an API has used its bucket, and refills it every second', async () => {
    // Prepare: the documented non-mutating bucket, 100 tokens refilled at 20 per second
    const { cloud, ec2 } = ec2Fixture();
    cloud.ec2.requestBuckets = { ...EC2_REQUEST_BUCKETS };
    const filtered = () =>
      ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'status', Values: ['available'] }] }));

    // Act
    const burst = await Promise.allSettled(Array.from({ length: 101 }, filtered));
    const otherApi = await ec2.send(
      new DescribeInstancesCommand({ Filters: [{ Name: 'vpc-id', Values: ['x'] }] }),
    );
    cloud.clock.advance(1000);
    const refilled = await Promise.allSettled(Array.from({ length: 21 }, filtered));

    // Assess
    const names = (results: PromiseSettledResult<unknown>[]) =>
      results.map((r) => (r.status === 'fulfilled' ? 'ok' : (r.reason as Error).name));
    expect(names(burst).filter((n) => n === 'ok')).toHaveLength(100);
    expect(names(burst)[100]).toBe('RequestLimitExceeded');
    expect(otherApi.Reservations).toEqual([]);
    expect(names(refilled).filter((n) => n === 'ok')).toHaveLength(20);
  });
});

describe('EC2 tags in the local cloud', () => {
  it('tags and untags instances, volumes and ENIs in one call', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    const eniId = cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' });

    await ec2.send(
      new CreateTagsCommand({
        Resources: [instanceId, volumeId, eniId],
        Tags: [
          { Key: 'NodeID', Value: 'n1' },
          { Key: 'Env', Value: 'dev' },
        ],
      }),
    );
    await ec2.send(
      new DeleteTagsCommand({
        Resources: [instanceId, volumeId, eniId],
        Tags: [{ Key: 'Env', Value: 'prod' }, { Key: 'NodeID' }],
      }),
    );

    for (const tags of [
      cloud.ec2.instance(instanceId)?.tags,
      cloud.ec2.volume(volumeId)?.tags,
      cloud.ec2.networkInterface(eniId)?.tags,
    ]) {
      // Env stays: DeleteTags with a Value deletes the tag only when the value matches
      expect(tags).toEqual({ Env: 'dev' });
    }
  });

  it("rejects tag keys starting with 'aws:' and unknown resources, changing nothing", async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const reserved = await awsError(
      ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId],
          Tags: [{ Key: 'aws:autoscaling:groupName', Value: 'x' }],
        }),
      ),
    );
    const unknown = await awsError(
      ec2.send(
        new CreateTagsCommand({
          Resources: [volumeId, 'i-0123456789abcdef0'],
          Tags: [{ Key: 'NodeID', Value: 'n1' }],
        }),
      ),
    );
    const unknownVolume = await awsError(
      ec2.send(
        new CreateTagsCommand({
          Resources: ['vol-0123456789abcdef0'],
          Tags: [{ Key: 'NodeID', Value: 'n1' }],
        }),
      ),
    );
    const unknownEni = await awsError(
      ec2.send(new DeleteTagsCommand({ Resources: ['eni-0123456789abcdef0'] })),
    );

    expect(reserved.name).toBe('InvalidParameterValue');
    expect(unknown.name).toBe('InvalidInstanceID.NotFound');
    expect(unknownVolume.name).toBe('InvalidVolume.NotFound');
    expect(unknownEni.name).toBe('InvalidNetworkInterfaceID.NotFound');
    expect(cloud.ec2.volume(volumeId)?.tags).toEqual({});
  });

  it('deletes every user tag when DeleteTags has no tags or an empty list, as the query protocol sends it', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const tagged = () => cloud.ec2.seedVolume({ availabilityZone: AZ_A, tags: { NodeID: 'n', Env: 'dev' } });
    const a = tagged();
    const b = tagged();

    await ec2.send(new DeleteTagsCommand({ Resources: [a] }));
    await ec2.send(new DeleteTagsCommand({ Resources: [b], Tags: [] }));

    expect(cloud.ec2.volume(a)?.tags).toEqual({});
    expect(cloud.ec2.volume(b)?.tags).toEqual({});
  });

  it('refuses more than 50 tags on a resource with TagLimitExceeded', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({
      availabilityZone: AZ_A,
      tags: Object.fromEntries(Array.from({ length: 50 }, (_, n) => [`k${n}`, 'v'])),
    });

    const error = await awsError(
      ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: 'one-more', Value: 'v' }] })),
    );

    expect(error.name).toBe('TagLimitExceeded');
  });
});

describe('EC2 throttling in the local cloud', () => {
  it('is retried by the SDK until the call succeeds', async () => {
    // Prepare: a client with a generous retry budget, half the calls throttled
    const { cloud, ec2 } = ec2Fixture({ maxAttempts: 20 });
    for (let n = 0; n < 10; n++) cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    cloud.faults.throttleRate = 0.5;

    // Act
    const pages = await Promise.all(
      Array.from({ length: 20 }, () => ec2.send(new DescribeVolumesCommand({}))),
    );

    // Assess: every call answered, after more attempts than calls
    expect(pages.every((p) => p.Volumes?.length === 10)).toBe(true);
    expect(cloud.accounting.count('ec2:DescribeVolumes')).toBeGreaterThan(20);
    expect(Math.max(...pages.map((p) => p.$metadata.attempts ?? 1))).toBeGreaterThan(1);
  });
});

describe('EC2 read-only views of the local cloud', () => {
  it('gives frozen snapshots that a later change does not alter, and fresh views after it', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    const before = cloud.ec2.instance(instanceId);
    const again = cloud.ec2.instance(instanceId);

    await ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );
    const afterAttach = cloud.ec2.instance(instanceId);
    cloud.clock.advance(cloud.ec2.timing.attachMs);
    const afterClock = cloud.ec2.instance(instanceId);

    expect(Object.isFrozen(before) && Object.isFrozen(before?.volumes) && Object.isFrozen(before?.tags)).toBe(
      true,
    );
    expect(again).toBe(before); // nothing changed: the same view, not a rebuilt one
    expect(before?.volumes.map((v) => v.device)).toEqual(['/dev/xvda']);
    expect(afterAttach?.volumes.map((v) => [v.device, v.state])).toEqual([
      ['/dev/xvda', 'attached'],
      ['/dev/sdf', 'attaching'],
    ]);
    expect(afterClock?.volumes[1]?.state).toBe('attached');
  });
});
