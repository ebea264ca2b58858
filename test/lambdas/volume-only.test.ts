/**
 * Volume-only sets (settings.volumeOnly: Kafka, Cassandra; the data follows the node, the IP does
 * not): launch, terminate and reconcile through their handlers, with sets that have no ENI.
 */
import { DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { launch, reconcile, terminate } from '../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, TERMINATE_EVENT } from '../helpers/cloud-fixture';

const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };

describe('volume-only sets', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  function setup(volumeOnly: boolean, sets: { enis: number; volumes?: number }[]): void {
    fx = new CloudFixture({ sets: 0, settings: { volumeOnly } });
    restore = fx.plugHandlers();
    for (const s of sets) fx.seedSet({ enis: s.enis, volumes: s.volumes ?? 1 });
  }

  async function launchOne(): Promise<{ instanceId: string; outcome: unknown }> {
    const [instanceId = ''] = fx.launch(1);
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    return { instanceId, outcome };
  }

  it('launches a node onto a set of volumes only, with no interface and no IP for the host', async () => {
    // Prepare
    setup(true, [{ enis: 0, volumes: 2 }]);
    // Act
    const { instanceId, outcome } = await launchOne();
    // Assess
    const set = fx.sets[0];
    expect(outcome).toMatchObject({ result: 'node', nodeId: set?.nodeId });
    expect(fx.attachedVolumes(instanceId)).toEqual([...(set?.volumeIds ?? [])].sort());
    const [prepare] = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    expect(prepare?.parameters).toMatchObject({ NetworkInterfaceId: '', NodeIp: '' });
    expect(fx.cloud.ec2.instance(instanceId)?.tags.NodeID).toBe(set?.nodeId);
    expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
  });

  it('leaves an ENI that carries the NodeID alone: the IP does not follow the node', async () => {
    // Prepare
    setup(true, [{ enis: 1 }]);
    // Act
    await launchOne();
    // Assess
    const eni = fx.cloud.ec2.networkInterface(fx.sets[0]?.networkInterfaceId ?? '');
    expect(eni?.state).toBe('available');
    expect(eni?.attachment).toBeUndefined();
  });

  it('refuses a set without an ENI when the group is not volume-only (the default)', async () => {
    // Prepare
    setup(false, [{ enis: 0 }]);
    // Act
    const { instanceId, outcome } = await launchOne();
    // Assess: no valid set, so the instance continues as a spare
    expect(outcome).toMatchObject({ result: 'spare' });
    expect(fx.attachedVolumes(instanceId)).toEqual([]);
  });

  it('releases the volumes at termination and hands the set to the next launch', async () => {
    // Prepare
    setup(true, [{ enis: 0 }]);
    const { instanceId } = await launchOne();
    fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, instanceId));
    const next = await launchOne();
    // Assess
    expect(outcome).toMatchObject({ result: 'released', nodeId: fx.sets[0]?.nodeId });
    expect(next.outcome).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId });
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('counts volume-only sets in the gauges and finishes one whose second volume came off', async () => {
    // Prepare: a node holding a two-volume set, and a free set
    setup(true, [{ enis: 0, volumes: 2 }, { enis: 0 }]);
    const { instanceId, outcome } = await launchOne();
    const nodeId = (outcome as { nodeId: string }).nodeId;
    const held = fx.sets.find((s) => s.nodeId === nodeId);
    await fx.clients.ec2.send(
      new DetachVolumeCommand({ VolumeId: held?.volumeIds[1], InstanceId: instanceId }),
    );
    await fx.cloud.clock.sleep(10_000);
    // Act
    const report = await reconcile(scheduled);
    // Assess
    expect(report.gauges).toMatchObject({ FreeSets: 1, HalfAttached: 1, BadSets: 0 });
    expect(report.finished).toEqual([nodeId]);
    expect(fx.attachedVolumes(instanceId)).toEqual([...(held?.volumeIds ?? [])].sort());
  });
});
