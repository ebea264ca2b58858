import {
  AttachNetworkInterfaceCommand,
  CreateNetworkInterfaceCommand,
  DeleteNetworkInterfaceCommand,
  DescribeNetworkInterfacesCommand,
  DetachNetworkInterfaceCommand,
  ModifyNetworkInterfaceAttributeCommand,
} from '@aws-sdk/client-ec2';
import { AZ_A, AZ_B, awsError, ec2Fixture } from './ec2-fixture';

describe('EC2 network interfaces in the local cloud', () => {
  it('creates an ENI with an allocated address, description and tags', async () => {
    const { ec2, subnets, vpcId } = ec2Fixture();

    const { NetworkInterface: eni } = await ec2.send(
      new CreateNetworkInterfaceCommand({
        SubnetId: subnets[AZ_A],
        Description: 'berth etcd-1',
        TagSpecifications: [
          { ResourceType: 'network-interface', Tags: [{ Key: 'NodeID', Value: 'etcd-1' }] },
        ],
      }),
    );

    expect(eni).toMatchObject({
      Status: 'available',
      SubnetId: subnets[AZ_A],
      VpcId: vpcId,
      AvailabilityZone: AZ_A,
      Description: 'berth etcd-1',
      TagSet: [{ Key: 'NodeID', Value: 'etcd-1' }],
    });
    expect(eni?.NetworkInterfaceId).toMatch(/^eni-[0-9a-f]{17}$/);
    expect(eni?.PrivateIpAddress).toMatch(/^10\.0\.\d+\.\d+$/);
  });

  it('keeps a requested private address and refuses it a second time', async () => {
    const { ec2, subnets } = ec2Fixture();
    const first = await ec2.send(
      new CreateNetworkInterfaceCommand({ SubnetId: subnets[AZ_A], PrivateIpAddress: '10.0.0.50' }),
    );

    const again = await awsError(
      ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnets[AZ_A], PrivateIpAddress: '10.0.0.50' })),
    );
    const outside = await awsError(
      ec2.send(new CreateNetworkInterfaceCommand({ SubnetId: subnets[AZ_A], PrivateIpAddress: '10.9.0.50' })),
    );

    expect(first.NetworkInterface?.PrivateIpAddress).toBe('10.0.0.50');
    expect(again.name).toBe('InvalidIPAddress.InUse');
    expect(outside.name).toBe('InvalidParameterValue');
  });

  it('attaches an ENI through attaching to attached and detaches it by attachment id', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const eniId = cloud.ec2.seedNetworkInterface({
      subnetId: cloud.ec2.instance(instanceId)?.subnetId ?? '',
    });
    const describe = async () =>
      (await ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [eniId] })))
        .NetworkInterfaces?.[0];

    const { AttachmentId } = await ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: eniId,
        InstanceId: instanceId,
        DeviceIndex: 1,
      }),
    );
    const attaching = await describe();
    cloud.clock.advance(cloud.ec2.timing.attachMs);
    const attached = await describe();
    await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId }));
    const detaching = await describe();
    cloud.clock.advance(cloud.ec2.timing.detachMs);
    const detached = await describe();

    expect(AttachmentId).toMatch(/^eni-attach-[0-9a-f]{17}$/);
    expect(attaching).toMatchObject({
      Status: 'in-use',
      Attachment: { Status: 'attaching', InstanceId: instanceId, DeviceIndex: 1, AttachmentId },
    });
    expect(attached?.Attachment?.Status).toBe('attached');
    expect(detaching?.Attachment?.Status).toBe('detaching');
    expect(detached?.Status).toBe('available');
    expect(detached?.Attachment).toBeUndefined();
  });

  it('tells the hooks when an ENI becomes attached, leaves by detach or termination, and when its instance ends', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const calls: string[] = [];
    cloud.ec2.hooks = {
      networkInterfaceAttached: (eni, instanceId) =>
        calls.push(
          `attached ${eni.networkInterfaceId} ${eni.attachment?.state} ${eni.macAddress} ${instanceId}`,
        ),
      networkInterfaceDetached: (eni, instanceId) =>
        calls.push(`detached ${eni.networkInterfaceId} ${eni.state} ${instanceId}`),
      instanceTerminated: (instance) => calls.push(`terminated ${instance.instanceId} ${instance.state}`),
    };
    const [a, b] = [running(), running()];
    const subnetId = cloud.ec2.instance(a)?.subnetId ?? '';
    const [first, second] = [
      cloud.ec2.seedNetworkInterface({ subnetId }),
      cloud.ec2.seedNetworkInterface({ subnetId }),
    ];
    const mac = (id: string): string => cloud.ec2.networkInterface(id)?.macAddress ?? '';

    const { AttachmentId } = await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: first, InstanceId: a, DeviceIndex: 1 }),
    );
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: second, InstanceId: b, DeviceIndex: 1 }),
    );
    const whileAttaching = [...calls];
    cloud.clock.advance(cloud.ec2.timing.attachMs);
    cloud.ec2.networkInterface(first); // transitions apply when the model is next read
    await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId }));
    cloud.clock.advance(cloud.ec2.timing.detachMs);
    cloud.ec2.terminateInstance(b);
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
    cloud.ec2.instance(b);

    expect(whileAttaching).toEqual([]);
    expect(mac(first)).toMatch(/^02(:[0-9a-f]{2}){5}$/);
    expect(calls).toEqual([
      `attached ${first} attached ${mac(first)} ${a}`,
      `attached ${second} attached ${mac(second)} ${b}`,
      `detached ${first} available ${a}`,
      `detached ${second} available ${b}`,
      `terminated ${b} terminated`,
    ]);
  });

  it('refuses an ENI that is in use with InvalidNetworkInterface.InUse', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const [a, b] = [running(), running()];
    const eniId = cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' });
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eniId, InstanceId: a, DeviceIndex: 1 }),
    );

    const error = await awsError(
      ec2.send(
        new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eniId, InstanceId: b, DeviceIndex: 1 }),
      ),
    );

    expect(error.name).toBe('InvalidNetworkInterface.InUse');
  });

  it('refuses a device index that is taken on the instance', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running();
    const [x, y] = [
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
    ];
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: x, InstanceId: instanceId, DeviceIndex: 1 }),
    );

    const primary = await awsError(
      ec2.send(
        new AttachNetworkInterfaceCommand({ NetworkInterfaceId: y, InstanceId: instanceId, DeviceIndex: 0 }),
      ),
    );
    const taken = await awsError(
      ec2.send(
        new AttachNetworkInterfaceCommand({ NetworkInterfaceId: y, InstanceId: instanceId, DeviceIndex: 1 }),
      ),
    );

    expect(primary.name).toBe('InvalidParameterValue');
    expect(taken.name).toBe('InvalidParameterValue');
    expect(taken.message).toContain("device index '1'");
    expect(cloud.ec2.networkInterface(y)?.state).toBe('available');
  });

  it('refuses an ENI from another availability zone with InvalidParameterCombination', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running({ az: AZ_A });
    const eniId = cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_B] ?? '' });

    const error = await awsError(
      ec2.send(
        new AttachNetworkInterfaceCommand({
          NetworkInterfaceId: eniId,
          InstanceId: instanceId,
          DeviceIndex: 1,
        }),
      ),
    );

    expect(error.name).toBe('InvalidParameterCombination');
  });

  it("refuses more ENIs than the instance type's MaximumNetworkInterfaces", async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running({ instanceType: 't3.micro' }); // 2 interfaces, the primary included
    const [x, y] = [
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
    ];
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: x, InstanceId: instanceId, DeviceIndex: 1 }),
    );

    const error = await awsError(
      ec2.send(
        new AttachNetworkInterfaceCommand({ NetworkInterfaceId: y, InstanceId: instanceId, DeviceIndex: 2 }),
      ),
    );

    expect(error.name).toBe('AttachmentLimitExceeded');
  });

  it('refuses to detach the primary interface and an unknown attachment', async () => {
    const { cloud, ec2, running } = ec2Fixture();
    const instanceId = running();
    const primary = (
      await ec2.send(
        new DescribeNetworkInterfacesCommand({
          Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }],
        }),
      )
    ).NetworkInterfaces?.[0];

    const error = await awsError(
      ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: primary?.Attachment?.AttachmentId })),
    );
    const unknown = await awsError(
      ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: 'eni-attach-0123456789abcdef0' })),
    );

    expect(primary?.Attachment?.DeviceIndex).toBe(0);
    expect(error.name).toBe('OperationNotPermitted');
    expect(unknown.name).toBe('InvalidAttachmentID.NotFound');
    expect(cloud.ec2.instance(instanceId)?.networkInterfaces).toHaveLength(1);
  });

  it('deletes an available ENI, refuses an attached one, and then answers NotFound', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running();
    const [free, used] = [
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
    ];
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: used, InstanceId: instanceId, DeviceIndex: 1 }),
    );

    await ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: free }));
    const inUse = await awsError(ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: used })));
    const gone = await awsError(
      ec2.send(new DescribeNetworkInterfacesCommand({ NetworkInterfaceIds: [free] })),
    );
    const malformed = await awsError(
      ec2.send(new DeleteNetworkInterfaceCommand({ NetworkInterfaceId: 'eni-1' })),
    );

    expect(inUse.name).toBe('InvalidNetworkInterface.InUse');
    expect(gone.name).toBe('InvalidNetworkInterfaceID.NotFound');
    expect(malformed.name).toBe('InvalidNetworkInterfaceID.Malformed');
  });

  it('filters ENIs by tag, status, availability zone and device index, and pages them', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running();
    for (let n = 0; n < 7; n++)
      cloud.ec2.seedNetworkInterface({
        subnetId: subnets[n % 2 ? AZ_B : AZ_A] ?? '',
        tags: { NodeID: `n${n}`, Env: 'dev' },
      });
    const attachedId = cloud.ec2.seedNetworkInterface({
      subnetId: subnets[AZ_A] ?? '',
      tags: { NodeID: 'n7', Env: 'dev' },
    });
    await ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: attachedId,
        InstanceId: instanceId,
        DeviceIndex: 1,
      }),
    );
    const ids = async (filters: { Name: string; Values: string[] }[]) =>
      (
        (await ec2.send(new DescribeNetworkInterfacesCommand({ Filters: filters }))).NetworkInterfaces ?? []
      ).map((e) => e.NetworkInterfaceId);

    const freeInA = await ids([
      { Name: 'tag:Env', Values: ['dev'] },
      { Name: 'status', Values: ['available'] },
      { Name: 'availability-zone', Values: [AZ_A] },
    ]);
    const atIndex1 = await ids([{ Name: 'attachment.device-index', Values: ['1'] }]);
    const page1 = await ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'tag-key', Values: ['NodeID'] }],
        MaxResults: 5,
      }),
    );
    const page2 = await ec2.send(
      new DescribeNetworkInterfacesCommand({
        Filters: [{ Name: 'tag-key', Values: ['NodeID'] }],
        MaxResults: 5,
        NextToken: page1.NextToken,
      }),
    );

    expect(freeInA).toHaveLength(4);
    expect(atIndex1).toEqual([attachedId]);
    expect(page1.NetworkInterfaces).toHaveLength(5);
    expect(page2.NetworkInterfaces).toHaveLength(3);
    expect(page2.NextToken).toBeUndefined();
  });

  it('deletes an attached ENI with the instance once its attachment is set to DeleteOnTermination', async () => {
    const { cloud, ec2, running, subnets } = ec2Fixture();
    const instanceId = running();
    const [kept, dropped] = [
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
      cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZ_A] ?? '' }),
    ];
    await ec2.send(
      new AttachNetworkInterfaceCommand({ NetworkInterfaceId: kept, InstanceId: instanceId, DeviceIndex: 1 }),
    );
    const { AttachmentId } = await ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: dropped,
        InstanceId: instanceId,
        DeviceIndex: 2,
      }),
    );

    await ec2.send(
      new ModifyNetworkInterfaceAttributeCommand({
        NetworkInterfaceId: dropped,
        Attachment: { AttachmentId, DeleteOnTermination: true },
      }),
    );
    const wrongAttachment = await awsError(
      ec2.send(
        new ModifyNetworkInterfaceAttributeCommand({
          NetworkInterfaceId: kept,
          Attachment: { AttachmentId, DeleteOnTermination: true },
        }),
      ),
    );
    cloud.ec2.terminateInstance(instanceId);
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);

    expect(wrongAttachment.name).toBe('InvalidAttachmentID.NotFound');
    expect(cloud.ec2.networkInterface(kept)?.state).toBe('available');
    expect(cloud.ec2.networkInterface(dropped)).toBeUndefined();
  });
});
