/**
 * Reconcile never reaches outside its group (issue 13): a set piece attached to an instance that is
 * not a member (another group's, a standalone one) is reported as held elsewhere, with the fix and a
 * gauge, and left as it is: nothing is detached from it and nothing is attached to the group's node.
 */
import { AttachNetworkInterfaceCommand, AttachVolumeCommand } from '@aws-sdk/client-ec2';
import { launch, reconcile } from '../../helpers/handlers';
import { CloudFixture } from '../../helpers/cloud-fixture';

const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };

describe('reconcile and instances outside the group', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  async function standalone(): Promise<string> {
    const id = fx.cloud.ec2.runInstance({ subnetId: fx.subnet('eu-west-1a'), tags: { Name: 'standalone' } });
    await fx.cloud.clock.sleep(60_000);
    return id;
  }

  it('leaves the ENI of a node set on a standalone instance, reports it and attaches nothing to the node', async () => {
    // Prepare: a node holds set 0's primary; someone attached the set's ENI to a standalone
    // instance before the node's launch attached it (the set is half attached across the boundary).
    fx = new CloudFixture({ sets: 1 });
    restore = fx.plugHandlers();
    const set = fx.sets[0];
    if (!set) throw new Error('no set');
    const outsider = await standalone();
    await fx.clients.ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: set.networkInterfaceId,
        InstanceId: outsider,
        DeviceIndex: 1,
      }),
    );
    const [node = ''] = fx.launch(1);
    await fx.cloud.clock.sleep(30_000);
    await fx.clients.ec2.send(
      new AttachVolumeCommand({ VolumeId: set.volumeIds[0], InstanceId: node, Device: '/dev/sdf' }),
    );
    await fx.cloud.clock.sleep(10_000);
    const detachesBefore = fx.cloud.accounting.count('ec2:DetachNetworkInterface');

    // Act
    const report = await reconcile(scheduled);

    // Assess: still on the outsider, nothing detached, the set counted and reported.
    expect(fx.cloud.ec2.networkInterface(set.networkInterfaceId)?.attachment).toMatchObject({
      instanceId: outsider,
      state: 'attached',
    });
    expect(fx.cloud.accounting.count('ec2:DetachNetworkInterface')).toBe(detachesBefore);
    expect(fx.cloud.accounting.count('ec2:AttachNetworkInterface')).toBe(1);
    expect(report.heldElsewhere).toEqual([{ nodeId: set.nodeId, instanceIds: [outsider] }]);
    expect(report.gauges).toMatchObject({ HeldElsewhere: 1, HalfAttached: 0 });
    expect(report.finished).toEqual([]);
    expect(report.released).toEqual([]);
  });

  it('does not release a volume of a set from a standalone instance that holds a piece of it', async () => {
    // Prepare: a node of the group holds set 0 completely; a grown volume of the set sits on a
    // standalone instance (an operator attached it there).
    fx = new CloudFixture({ sets: 1, volumesPerSet: 2 });
    restore = fx.plugHandlers();
    const set = fx.sets[0];
    if (!set) throw new Error('no set');
    const outsider = await standalone();
    await fx.clients.ec2.send(
      new AttachVolumeCommand({ VolumeId: set.volumeIds[1], InstanceId: outsider, Device: '/dev/sdg' }),
    );
    await fx.cloud.clock.sleep(10_000);
    const [node = ''] = fx.launch(1);
    await launch(fx.takeEvent('EC2 Instance-launch Lifecycle Action', node)).catch(() => undefined);
    const detachesBefore = fx.cloud.accounting.count('ec2:DetachVolume');

    // Act
    const report = await reconcile(scheduled);

    // Assess
    expect(fx.cloud.ec2.volume(set.volumeIds[1] ?? '')?.attachments[0]).toMatchObject({
      instanceId: outsider,
      state: 'attached',
    });
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(detachesBefore);
    expect(report.heldElsewhere).toEqual([{ nodeId: set.nodeId, instanceIds: [outsider] }]);
    expect(report.gauges.HeldElsewhere).toBe(1);
  });
});
