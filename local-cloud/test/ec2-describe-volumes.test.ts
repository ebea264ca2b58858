import { AttachVolumeCommand, DescribeVolumesCommand, type Filter, type Volume } from '@aws-sdk/client-ec2';
import { AZ_A, AZ_B, awsError, ec2Fixture, type Ec2Fixture } from './ec2-fixture';

interface Ctx {
  ids: string[];
  instanceId: string;
  scratch: string;
  root: string;
}

/** Six volumes (and the instance's root volume): n0..n4 tagged NodeID (n0, n1 attached to one instance), one untagged scratch volume. */
async function sixVolumes(fixture: Ec2Fixture): Promise<Ctx> {
  const { cloud, ec2, running } = fixture;
  const instanceId = running();
  const ids = [0, 1, 2, 3, 4].map((n) =>
    cloud.ec2.seedVolume({
      availabilityZone: n === 4 ? AZ_B : AZ_A,
      size: 10 + n,
      tags: { NodeID: `etcd-${n}`, Env: n === 3 ? 'prod' : 'dev' },
      encrypted: n === 2,
    }),
  );
  const scratch = cloud.ec2.seedVolume({ availabilityZone: AZ_A, size: 100 });
  await ec2.send(new AttachVolumeCommand({ VolumeId: ids[0], InstanceId: instanceId, Device: '/dev/sdf' }));
  await ec2.send(new AttachVolumeCommand({ VolumeId: ids[1], InstanceId: instanceId, Device: '/dev/sdg' }));
  cloud.clock.advance(cloud.ec2.timing.attachMs);
  const root = cloud.ec2.instance(instanceId)?.volumes[0]?.volumeId ?? '';
  return { ids, instanceId, scratch, root };
}

const ids = (volumes: Volume[] | undefined) => (volumes ?? []).map((v) => v.VolumeId);

describe('EC2 DescribeVolumes filters and pagination in the local cloud', () => {
  const cases: [string, (ctx: Ctx) => Filter[], (ctx: Ctx) => (string | undefined)[]][] = [
    ['tag:NodeID', () => [{ Name: 'tag:NodeID', Values: ['etcd-2', 'etcd-3'] }], (c) => [c.ids[2], c.ids[3]]],
    ['tag:NodeID with a wildcard', () => [{ Name: 'tag:NodeID', Values: ['etcd-*'] }], (c) => c.ids],
    ['tag-key', () => [{ Name: 'tag-key', Values: ['NodeID'] }], (c) => c.ids],
    ['tag-value', () => [{ Name: 'tag-value', Values: ['prod'] }], (c) => [c.ids[3]]],
    [
      'attachment.instance-id (the root volume included)',
      (c) => [{ Name: 'attachment.instance-id', Values: [c.instanceId] }],
      (c) => [c.root, c.ids[0], c.ids[1]],
    ],
    ['attachment.device', () => [{ Name: 'attachment.device', Values: ['/dev/sdg'] }], (c) => [c.ids[1]]],
    [
      'attachment.status',
      () => [
        { Name: 'attachment.status', Values: ['attached'] },
        { Name: 'tag-key', Values: ['NodeID'] },
      ],
      (c) => [c.ids[0], c.ids[1]],
    ],
    ['availability-zone', () => [{ Name: 'availability-zone', Values: [AZ_B] }], (c) => [c.ids[4]]],
    [
      'status, ANDed with a tag filter',
      () => [
        { Name: 'status', Values: ['available'] },
        { Name: 'tag:Env', Values: ['dev'] },
      ],
      (c) => [c.ids[2], c.ids[4]],
    ],
    ['encrypted', () => [{ Name: 'encrypted', Values: ['true'] }], (c) => [c.ids[2]]],
    ['size', () => [{ Name: 'size', Values: ['13', '100'] }], (c) => [c.ids[3], c.scratch]],
    ['volume-id', (c) => [{ Name: 'volume-id', Values: [c.scratch] }], (c) => [c.scratch]],
    ['volume-type', () => [{ Name: 'volume-type', Values: ['gp2'] }], () => []],
    [
      'attachment.delete-on-termination',
      () => [{ Name: 'attachment.delete-on-termination', Values: ['false'] }],
      (c) => [c.ids[0], c.ids[1]],
    ],
  ];

  it.each(cases)('filters by %s', async (_name, filters, expected) => {
    const fixture = ec2Fixture();
    const ctx = await sixVolumes(fixture);

    const { Volumes } = await fixture.ec2.send(new DescribeVolumesCommand({ Filters: filters(ctx) }));

    expect(ids(Volumes)).toEqual(expected(ctx));
  });

  it('matches wildcards as documented: * any run, ? zero or one character, backslash escapes', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const [plain, star, longer] = ['db-1', 'db-*', 'db-12'].map((name) =>
      cloud.ec2.seedVolume({ availabilityZone: AZ_A, tags: { Name: name } }),
    );
    const byName = async (value: string) =>
      ids(
        (await ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'tag:Name', Values: [value] }] })))
          .Volumes,
      );

    expect(await byName('db-?')).toEqual([plain, star]);
    expect(await byName('db-1?')).toEqual([plain, longer]);
    expect(await byName('db-\\*')).toEqual([star]);
    expect(await byName('db*')).toEqual([plain, star, longer]);
  });

  it('ORs the values of one filter and ANDs separate filters, even with the same name', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const [a, b] = ['a', 'b'].map((n) =>
      cloud.ec2.seedVolume({ availabilityZone: AZ_A, tags: { NodeID: n } }),
    );
    const send = async (filters: Filter[]) =>
      ids((await ec2.send(new DescribeVolumesCommand({ Filters: filters }))).Volumes);

    const either = await send([{ Name: 'tag:NodeID', Values: ['a', 'b'] }]);
    const both = await send([
      { Name: 'tag:NodeID', Values: ['a', 'b'] },
      { Name: 'tag:NodeID', Values: ['b', 'c'] },
    ]);

    expect(either).toEqual([a, b]);
    expect(both).toEqual([b]);
  });

  it("answers InvalidParameterValue for a filter name DescribeVolumes doesn't know", async () => {
    const { ec2 } = ec2Fixture();

    const error = await awsError(
      ec2.send(new DescribeVolumesCommand({ Filters: [{ Name: 'NodeID', Values: ['x'] }] })),
    );

    expect(error).toEqual({ name: 'InvalidParameterValue', message: "The filter 'NodeID' is invalid" });
  });

  it('pages with MaxResults and NextToken until the last page, which has no token', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const all = Array.from({ length: 12 }, (_, n) =>
      cloud.ec2.seedVolume({ availabilityZone: AZ_A, tags: { NodeID: `n${n}` } }),
    );
    cloud.ec2.seedVolume({ availabilityZone: AZ_A }); // untagged: filtered out on every page

    const seen: (string | undefined)[] = [];
    const sizes: number[] = [];
    let token: string | undefined;
    do {
      const page = await ec2.send(
        new DescribeVolumesCommand({
          Filters: [{ Name: 'tag-key', Values: ['NodeID'] }],
          MaxResults: 5,
          NextToken: token,
        }),
      );
      sizes.push(page.Volumes?.length ?? 0);
      seen.push(...ids(page.Volumes));
      token = page.NextToken;
    } while (token);

    expect(sizes).toEqual([5, 5, 2]);
    expect(seen).toEqual(all);
  });

  it('refuses MaxResults together with VolumeIds, and MaxResults under 5', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const combined = await awsError(
      ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId], MaxResults: 5 })),
    );
    const tooSmall = await awsError(ec2.send(new DescribeVolumesCommand({ MaxResults: 4 })));
    const badToken = await awsError(
      ec2.send(new DescribeVolumesCommand({ MaxResults: 5, NextToken: 'garbage' })),
    );

    expect(combined.name).toBe('InvalidParameterCombination');
    expect(tooSmall.name).toBe('InvalidParameterValue');
    expect(badToken.name).toBe('InvalidNextToken');
  });

  it('returns at most 500 volumes when MaxResults is larger', async () => {
    const { cloud, ec2 } = ec2Fixture();
    for (let n = 0; n < 501; n++) cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const page = await ec2.send(new DescribeVolumesCommand({ MaxResults: 1000 }));

    expect(page.Volumes).toHaveLength(500);
    expect(page.NextToken).toBeDefined();
  });

  it('answers without Tags for an untagged volume, as EC2 does', async () => {
    const { cloud, ec2 } = ec2Fixture();
    const volumeId = cloud.ec2.seedVolume({ availabilityZone: AZ_A });

    const { Volumes } = await ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));

    expect(Volumes?.[0]?.Tags).toBeUndefined();
  });
});
