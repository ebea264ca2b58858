import {
  CreateVolumeCommand,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  ModifyVolumeCommand,
  type CreateVolumeCommandInput,
} from '@aws-sdk/client-ec2';
import { AZ_A, awsError, ec2Fixture } from './ec2-fixture';

const HOUR = 3600_000;

describe('EC2 CreateVolume in the local cloud', () => {
  const request: CreateVolumeCommandInput = {
    AvailabilityZone: AZ_A,
    Size: 20,
    VolumeType: 'gp3',
    Iops: 4000,
    Throughput: 250,
    Encrypted: true,
    KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
    TagSpecifications: [{ ResourceType: 'volume', Tags: [{ Key: 'NodeID', Value: 'etcd-1' }] }],
  };

  it('creates a volume with the requested type, performance, encryption and tags', async () => {
    const { cloud, ec2 } = ec2Fixture();

    const created = await ec2.send(new CreateVolumeCommand(request));

    expect(created).toMatchObject({
      Size: 20,
      VolumeType: 'gp3',
      Iops: 4000,
      Throughput: 250,
      Encrypted: true,
      KmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/abc',
      Tags: [{ Key: 'NodeID', Value: 'etcd-1' }],
      State: 'creating',
    });
    expect(created.CreateTime).toEqual(new Date(cloud.clock.now()));
  });

  it('applies the documented defaults: gp2 when no type is given, gp3 at 3000 IOPS and 125 MiB/s', async () => {
    const { ec2 } = ec2Fixture();

    const gp2 = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: AZ_A, Size: 100 }));
    const gp3 = await ec2.send(
      new CreateVolumeCommand({ AvailabilityZone: AZ_A, Size: 100, VolumeType: 'gp3' }),
    );

    expect(gp2).toMatchObject({ VolumeType: 'gp2', Iops: 300, Encrypted: false });
    expect(gp3).toMatchObject({ VolumeType: 'gp3', Iops: 3000, Throughput: 125 });
  });

  it('returns the same volume for a retried request with the same ClientToken', async () => {
    const { cloud, ec2 } = ec2Fixture();

    const first = await ec2.send(new CreateVolumeCommand({ ...request, ClientToken: 'grow-i-1-evt-42' }));
    const again = await ec2.send(new CreateVolumeCommand({ ...request, ClientToken: 'grow-i-1-evt-42' }));

    expect(again.VolumeId).toBe(first.VolumeId);
    expect(cloud.ec2.volumes().filter((v) => v.tags.NodeID === 'etcd-1')).toHaveLength(1);
  });

  it('answers IdempotentParameterMismatch when a ClientToken comes back with other parameters', async () => {
    const { cloud, ec2 } = ec2Fixture();
    await ec2.send(new CreateVolumeCommand({ ...request, ClientToken: 'token-1' }));

    const error = await awsError(
      ec2.send(new CreateVolumeCommand({ ...request, Size: 21, ClientToken: 'token-1' })),
    );

    expect(error.name).toBe('IdempotentParameterMismatch');
    expect(cloud.ec2.volumes().filter((v) => v.volumeType === 'gp3')).toHaveLength(1);
  });

  it('rejects a ClientToken longer than 64 ASCII characters', async () => {
    const { ec2 } = ec2Fixture();

    const error = await awsError(
      ec2.send(new CreateVolumeCommand({ ...request, ClientToken: 'x'.repeat(65) })),
    );

    expect(error.name).toBe('InvalidParameterValue');
  });

  it.each([
    ['a gp3 volume of 0 GiB', { VolumeType: 'gp3', Size: 0 }, 'InvalidParameterValue'],
    ['a gp2 volume over 16384 GiB', { VolumeType: 'gp2', Size: 16385 }, 'InvalidParameterValue'],
    ['gp3 IOPS under 3000', { VolumeType: 'gp3', Size: 100, Iops: 2000 }, 'InvalidParameterValue'],
    ['gp3 IOPS over 500 per GiB', { VolumeType: 'gp3', Size: 10, Iops: 6000 }, 'InvalidParameterValue'],
    [
      'gp3 throughput under 125 MiB/s',
      { VolumeType: 'gp3', Size: 100, Throughput: 100 },
      'InvalidParameterValue',
    ],
    [
      'gp3 throughput over 0.25 MiB/s per IOPS',
      { VolumeType: 'gp3', Size: 100, Throughput: 1000 },
      'InvalidParameterValue',
    ],
    ['IOPS on a gp2 volume', { VolumeType: 'gp2', Size: 100, Iops: 300 }, 'InvalidParameterCombination'],
    [
      'throughput on an io2 volume',
      { VolumeType: 'io2', Size: 100, Iops: 1000, Throughput: 200 },
      'InvalidParameterCombination',
    ],
    ['an io1 volume without IOPS', { VolumeType: 'io1', Size: 100 }, 'MissingParameter'],
    ['an st1 volume under 125 GiB', { VolumeType: 'st1', Size: 100 }, 'InvalidParameterValue'],
    [
      'a KMS key without Encrypted',
      { VolumeType: 'gp3', Size: 10, KmsKeyId: 'alias/x' },
      'InvalidParameterDependency',
    ],
    ['neither Size nor SnapshotId', { VolumeType: 'gp3' }, 'MissingParameter'],
  ] as [string, Partial<CreateVolumeCommandInput>, string][])('refuses %s', async (_name, params, code) => {
    const { cloud, ec2 } = ec2Fixture();

    const error = await awsError(ec2.send(new CreateVolumeCommand({ AvailabilityZone: AZ_A, ...params })));

    expect(error.name).toBe(code);
    expect(cloud.ec2.volumes()).toHaveLength(0);
  });

  it('refuses tags for another resource type and tag keys starting with aws:', async () => {
    const { ec2 } = ec2Fixture();

    const wrongType = await awsError(
      ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: AZ_A,
          Size: 1,
          TagSpecifications: [{ ResourceType: 'instance', Tags: [{ Key: 'a', Value: 'b' }] }],
        }),
      ),
    );
    const reserved = await awsError(
      ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: AZ_A,
          Size: 1,
          TagSpecifications: [
            { ResourceType: 'volume', Tags: [{ Key: 'aws:cloudformation:stack-name', Value: 'b' }] },
          ],
        }),
      ),
    );

    expect(wrongType.name).toBe('InvalidParameterValue');
    expect(reserved.name).toBe('InvalidParameterValue');
    expect(reserved.message).toContain("'aws:'");
  });

  it('answers InvalidVolume.NotFound right after creation while timing.consistencyMs runs', async () => {
    const { cloud, ec2 } = ec2Fixture();
    cloud.ec2.timing.consistencyMs = 1000;
    const created = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: AZ_A, Size: 1 }));

    const early = await awsError(
      ec2.send(new DescribeVolumesCommand({ VolumeIds: [created.VolumeId ?? ''] })),
    );
    const listedEarly = (await ec2.send(new DescribeVolumesCommand({}))).Volumes ?? [];
    cloud.clock.advance(1000);
    const later = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [created.VolumeId ?? ''] }));

    expect(early.name).toBe('InvalidVolume.NotFound');
    expect(listedEarly).toHaveLength(0);
    expect(later.Volumes?.[0]?.VolumeId).toBe(created.VolumeId);
  });

  it('calls the volumeCreated hook with the new volume', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const seen: string[] = [];
    cloud.ec2.hooks.volumeCreated = (v) => seen.push(`${v.volumeId}:${v.size}`);

    const created = await ec2.send(new CreateVolumeCommand({ AvailabilityZone: AZ_A, Size: 3 }));

    expect(seen).toEqual([`${created.VolumeId}:3`]);
  });
});

describe('EC2 ModifyVolume in the local cloud', () => {
  it('walks a modification through modifying, optimizing and completed, with the size usable at optimizing', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 10 });
    const grown: number[] = [];
    cloud.ec2.hooks.volumeModified = (_v, size) => grown.push(size);
    const state = async () =>
      (await ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] })))
        .VolumesModifications?.[0]?.ModificationState;

    const started = await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 20 }));
    const sizeAtOnce = (await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }))).Volumes?.[0]
      ?.Size;
    const hookBeforeOptimizing = [...grown];
    cloud.clock.advance(cloud.ec2.timing.modifyingMs);
    const second = await state();
    cloud.clock.advance(cloud.ec2.timing.optimizingMs);
    const third = await state();

    expect(started.VolumeModification).toMatchObject({
      ModificationState: 'modifying',
      OriginalSize: 10,
      TargetSize: 20,
    });
    expect(sizeAtOnce).toBe(20);
    expect(hookBeforeOptimizing).toEqual([]);
    expect(second).toBe('optimizing');
    expect(grown).toEqual([20]);
    expect(third).toBe('completed');
  });

  it('answers IncorrectModificationState while the previous modification is not completed', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 10 });
    await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 20 }));
    cloud.clock.advance(cloud.ec2.timing.modifyingMs);

    const error = await awsError(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 30 })));

    expect(error.name).toBe('IncorrectModificationState');
    expect(cloud.ec2.volume(volumeId)?.size).toBe(20);
  });

  it('allows four modifications in a rolling 24 hours and refuses the fifth until the first is 24 hours old', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 10 });
    const finish = () => cloud.clock.advance(cloud.ec2.timing.modifyingMs + cloud.ec2.timing.optimizingMs);
    for (const size of [11, 12, 13, 14]) {
      await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: size }));
      finish();
    }

    const fifth = await awsError(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 15 })));
    cloud.clock.advance(24 * HOUR - 4 * (cloud.ec2.timing.modifyingMs + cloud.ec2.timing.optimizingMs) + 1);
    const later = await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 15 }));

    expect(fifth.name).toBe('VolumeModificationRateExceeded');
    expect(later.VolumeModification?.TargetSize).toBe(15);
  });

  it('under the older rule, refuses a second modification within six hours', async () => {
    const { cloud, ec2 } = ec2Fixture();
    cloud.ec2.modificationRule = 'one-per-6h';
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 10 });
    await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 11 }));
    cloud.clock.advance(HOUR);

    const tooSoon = await awsError(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 12 })));
    cloud.clock.advance(5 * HOUR);
    const afterSix = await ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 12 }));

    expect(tooSoon.name).toBe('VolumeModificationRateExceeded');
    expect(afterSix.VolumeModification?.ModificationState).toBe('modifying');
  });

  it('refuses to shrink a volume', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 10 });

    const error = await awsError(ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: 5 })));

    expect(error.name).toBe('InvalidParameterValue');
    expect(cloud.ec2.volume(volumeId)?.modification).toBeUndefined();
  });

  it('changes type and performance, checked against the target type bounds', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 100, volumeType: 'gp2' });

    const tooFast = await awsError(
      ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, VolumeType: 'gp3', Throughput: 5000 })),
    );
    const modified = await ec2.send(
      new ModifyVolumeCommand({ VolumeId: volumeId, VolumeType: 'gp3', Iops: 6000, Throughput: 500 }),
    );

    expect(tooFast.name).toBe('InvalidParameterValue');
    expect(modified.VolumeModification).toMatchObject({
      OriginalVolumeType: 'gp2',
      TargetVolumeType: 'gp3',
      TargetIops: 6000,
      TargetThroughput: 500,
    });
    expect(cloud.ec2.volume(volumeId)).toMatchObject({ volumeType: 'gp3', iops: 6000, throughput: 500 });
  });

  it('answers InvalidVolumeModification.NotFound for a volume never modified', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const error = await awsError(
      ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] })),
    );

    expect(error.name).toBe('InvalidVolumeModification.NotFound');
  });
});
