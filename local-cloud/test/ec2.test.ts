import {
  AttachVolumeCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  EC2ServiceException,
} from '@aws-sdk/client-ec2';
import { AZ_A, AZ_B, awsError, ec2Fixture } from './ec2-fixture';

describe('EC2 volumes in the local cloud', () => {
  it('walks a volume through creating, available, attaching, in-use and detaching with the virtual clock', async () => {
    // Prepare
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const created = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: AZ_A, Size: 10, VolumeType: 'gp3' }),
    );
    const volumeId = created.VolumeId ?? '';
    const describe = async () =>
      (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0];

    // Act + Assess: creating until timing.createVolumeMs has passed
    expect(created.State).toBe('creating');
    expect(volumeId).toMatch(/^vol-[0-9a-f]{17}$/);
    cloud.clock.advance(cloud.ec2.timing.createVolumeMs);
    expect((await describe())?.State).toBe('available');

    const attach = await ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );
    expect(attach.State).toBe('attaching');
    expect(await describe()).toMatchObject({
      State: 'in-use',
      Attachments: [
        { State: 'attaching', InstanceId: instanceId, Device: '/dev/sdf', DeleteOnTermination: false },
      ],
    });
    cloud.clock.advance(cloud.ec2.timing.attachMs);
    expect((await describe())?.Attachments?.[0]?.State).toBe('attached');

    const detach = await ec2.send(new DetachVolumeCommand({ VolumeId: volumeId }));
    expect(detach.State).toBe('detaching');
    expect(await describe()).toMatchObject({ State: 'in-use', Attachments: [{ State: 'detaching' }] });
    cloud.clock.advance(cloud.ec2.timing.detachMs);
    expect(await describe()).toMatchObject({ State: 'available', Attachments: [] });
    expect(cloud.ec2.instance(instanceId)?.volumes.map((v) => v.device)).toEqual(['/dev/xvda']);
  });

  it('refuses a second attachment of an attached volume with VolumeInUse', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const first = running();
    const second = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: first, Device: '/dev/sdf' }));

    const error = await awsError(
      ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: second, Device: '/dev/sdf' })),
    );

    expect(error.name).toBe('VolumeInUse');
    expect(cloud.ec2.volume(volumeId)?.attachments).toEqual([expect.objectContaining({ instanceId: first })]);
  });

  it('answers IncorrectState for a volume that is still creating and for an instance still pending', async () => {
    const { cloud, ec2, subnets, running } = ec2Fixture();
    const instanceId = running();
    const creating = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: AZ_A, Size: 1 }));
    const pending = cloud.ec2.runInstance({ subnetId: subnets[AZ_A] ?? '' });
    const available = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const onCreating = await awsError(
      ec2.send(
        new AttachVolumeCommand({ VolumeId: creating.VolumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
      ),
    );
    const onPending = await awsError(
      ec2.send(new AttachVolumeCommand({ VolumeId: available, InstanceId: pending, Device: '/dev/sdf' })),
    );

    expect(onCreating).toEqual({
      name: 'IncorrectState',
      message: `${creating.VolumeId} is not 'available'.`,
    });
    expect(onPending).toEqual({ name: 'IncorrectState', message: `Instance '${pending}' is not 'running'.` });
  });

  it('refuses a volume from another availability zone with InvalidVolume.ZoneMismatch', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running({ az: AZ_A });
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_B });

    const error = await awsError(
      ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' })),
    );

    expect(error.name).toBe('InvalidVolume.ZoneMismatch');
    expect(cloud.ec2.volume(volumeId)?.state).toBe('available');
  });

  it('refuses a device name that is taken on the instance, even while the other volume detaches', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const [a, b] = [
      cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
      cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
    ];
    await ec2.send(new AttachVolumeCommand({ VolumeId: a, InstanceId: instanceId, Device: '/dev/sdf' }));
    cloud.clock.advance(cloud.ec2.timing.attachMs);
    await ec2.send(new DetachVolumeCommand({ VolumeId: a }));

    const taken = await awsError(
      ec2.send(new AttachVolumeCommand({ VolumeId: b, InstanceId: instanceId, Device: '/dev/sdf' })),
    );
    cloud.clock.advance(cloud.ec2.timing.detachMs);
    const afterDetach = await ec2.send(
      new AttachVolumeCommand({ VolumeId: b, InstanceId: instanceId, Device: '/dev/sdf' }),
    );

    expect(taken).toEqual({
      name: 'InvalidParameterValue',
      message: "Invalid value '/dev/sdf' for unixDevice. Attachment point /dev/sdf is already in use",
    });
    expect(afterDetach.State).toBe('attaching');
  });

  it('keeps a detached device name taken for timing.deviceReleaseMs when that is set', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    cloud.ec2.timing.deviceReleaseMs = 7000;
    const instanceId = running();
    const [a, b] = [
      cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
      cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
    ];
    await ec2.send(new AttachVolumeCommand({ VolumeId: a, InstanceId: instanceId, Device: '/dev/sdf' }));
    await ec2.send(new DetachVolumeCommand({ VolumeId: a }));
    cloud.clock.advance(cloud.ec2.timing.detachMs);

    const justDetached = await awsError(
      ec2.send(new AttachVolumeCommand({ VolumeId: b, InstanceId: instanceId, Device: '/dev/sdf' })),
    );
    cloud.clock.advance(7000);
    const later = await ec2.send(
      new AttachVolumeCommand({ VolumeId: b, InstanceId: instanceId, Device: '/dev/sdf' }),
    );

    expect(cloud.ec2.volume(a)?.state).toBe('available');
    expect(justDetached.name).toBe('InvalidParameterValue');
    expect(later.State).toBe('attaching');
  });

  it('refuses a device name that is not a valid EBS device name', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const error = await awsError(
      ec2.send(
        new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/nvme1n1' }),
      ),
    );

    expect(error.name).toBe('InvalidParameterValue');
    expect(error.message).toContain('is not a valid EBS device name');
  });

  it('answers IncorrectState when detaching a volume that is available', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const error = await awsError(ec2.send(new DetachVolumeCommand({ VolumeId: volumeId })));

    expect(error).toEqual({
      name: 'IncorrectState',
      message: `Volume '${volumeId}' is in the 'available' state.`,
    });
  });

  it('answers InvalidAttachment.NotFound when detaching from an instance that does not hold the volume', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const holder = running();
    const other = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });
    await ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: holder, Device: '/dev/sdf' }));

    const error = await awsError(
      ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: other })),
    );

    expect(error.name).toBe('InvalidAttachment.NotFound');
    expect(cloud.ec2.volume(volumeId)?.attachments[0]?.state).toBe('attaching');
  });

  it('refuses to delete an attached volume, and deletes an available one through deleting', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const [attached, free] = [
      cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
      cloud.ec2.seedVolume({ availabilityZone: AZ_A }),
    ];
    await ec2.send(
      new AttachVolumeCommand({ VolumeId: attached, InstanceId: instanceId, Device: '/dev/sdg' }),
    );

    const inUse = await awsError(ec2.send(new DeleteVolumeCommand({ VolumeId: attached })));
    await ec2.send(new DeleteVolumeCommand({ VolumeId: free }));
    const during = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [free] }))).Volumes?.[0]?.State;
    cloud.clock.advance(cloud.ec2.timing.deleteVolumeMs);
    const gone = await awsError(ec2.send(new DescribeVolumesCommand({ VolumeIds: [free] })));

    expect(inUse.name).toBe('VolumeInUse');
    expect(during).toBe('deleting');
    expect(gone).toEqual({ name: 'InvalidVolume.NotFound', message: `The volume '${free}' does not exist.` });
  });

  it('answers NotFound and Malformed codes for unknown and badly formed ids', async () => {
    const { ec2, running } = ec2Fixture();
    const instanceId = running();

    const unknownVolume = await awsError(
      ec2.send(
        new AttachVolumeCommand({
          VolumeId: 'vol-0123456789abcdef0',
          InstanceId: instanceId,
          Device: '/dev/sdf',
        }),
      ),
    );
    const unknownInstance = await awsError(
      ec2.send(
        new DetachVolumeCommand({ VolumeId: 'vol-0123456789abcdef0', InstanceId: 'i-0123456789abcdef0' }),
      ),
    );
    const badVolume = await awsError(ec2.send(new DescribeVolumesCommand({ VolumeIds: ['vol-xyz'] })));
    const badInstance = await awsError(
      ec2.send(
        new AttachVolumeCommand({
          VolumeId: 'vol-0123456789abcdef0',
          InstanceId: 'i-nope',
          Device: '/dev/sdf',
        }),
      ),
    );

    expect(unknownVolume.name).toBe('InvalidVolume.NotFound');
    expect(unknownInstance.name).toBe('InvalidVolume.NotFound');
    expect(badVolume.name).toBe('InvalidVolumeID.Malformed');
    expect(badInstance.name).toBe('InvalidInstanceID.Malformed');
  });

  it('answers MissingParameter when a required parameter is absent', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const noDevice = await awsError(
      ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId } as never)),
    );
    const noZone = await awsError(ec2.send(new CreateVolumeCommand({ Size: 1 })));

    expect(noDevice.name).toBe('MissingParameter');
    expect(noZone.name).toBe('MissingParameter');
  });

  it('surfaces errors as the SDK EC2ServiceException with the AWS code as name', async () => {
    const { ec2 } = ec2Fixture();

    const error = await ec2
      .send(new DescribeVolumesCommand({ VolumeIds: ['vol-0123456789abcdef0'] }))
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(EC2ServiceException);
    expect((error as EC2ServiceException).$metadata.httpStatusCode).toBe(400);
  });

  it('lets exactly one of many concurrent AttachVolume calls win each volume', async () => {
    // Prepare: 40 running instances race for 10 volumes, 4 per volume, all at once
    const { cloud, ec2, running } = ec2Fixture();
    const instances = Array.from({ length: 40 }, () => running());
    const volumes = Array.from({ length: 10 }, () => cloud.ec2.seedVolume({ availabilityZone: AZ_A }));

    // Act
    const results = await Promise.allSettled(
      instances.map((instanceId, n) =>
        ec2.send(
          new AttachVolumeCommand({ VolumeId: volumes[n % 10], InstanceId: instanceId, Device: '/dev/sdf' }),
        ),
      ),
    );

    // Assess: 10 winners, 30 VolumeInUse, every volume held by one instance
    const losers = results.filter((r) => r.status === 'rejected').map((r) => (r.reason as Error).name);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(10);
    expect(new Set(losers)).toEqual(new Set(['VolumeInUse']));
    expect(losers).toHaveLength(30);
    expect(volumes.map((v) => cloud.ec2.volume(v)?.attachments.length)).toEqual(Array(10).fill(1));
  });
});
