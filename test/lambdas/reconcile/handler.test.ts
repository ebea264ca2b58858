import { DeleteAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  AttachNetworkInterfaceCommand,
  AttachVolumeCommand,
  DetachNetworkInterfaceCommand,
} from '@aws-sdk/client-ec2';
import { launch } from '../../helpers/handlers';
import { reconcile } from '../../helpers/handlers';
import { alarmName, alarmNamePrefix } from '../../../lambdas/shared/alarms';
import { instanceAlarmPrefix } from '../../../infra/event-patterns';
import { CloudFixture } from '../../helpers/cloud-fixture';

const scheduled = { 'detail-type': 'Scheduled Event', source: 'aws.events', detail: {} };

describe('reconcile handler', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  async function launchAll(n: number): Promise<string[]> {
    const ids = fx.launch(n);
    await Promise.all(fx.launchEvents().map((e) => launch(e)));
    return ids;
  }

  function setup(options: ConstructorParameters<typeof CloudFixture>[0] = {}): void {
    fx = new CloudFixture(options);
    restore = fx.plugHandlers();
  }

  it('finishes a set whose primary is attached but whose ENI is not', async () => {
    // Prepare: a node loses its set's ENI (a crash between the attachments, or a hand)
    setup({ sets: 1 });
    const [nodeId = ''] = await launchAll(1);
    const set = fx.sets[0];
    const attachmentId = fx.cloud.ec2.networkInterface(set?.networkInterfaceId ?? '')?.attachment
      ?.attachmentId;
    await fx.clients.ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId }));
    await fx.cloud.clock.sleep(10_000);
    // Act
    const report = await reconcile(scheduled);
    // Assess
    expect(report.gauges.HalfAttached).toBe(1);
    expect(report.finished).toEqual([set?.nodeId]);
    const eni = fx.cloud.ec2.networkInterface(set?.networkInterfaceId ?? '');
    expect(eni?.attachment).toMatchObject({ instanceId: nodeId, deviceIndex: 1, state: 'attached' });
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')).toHaveLength(2);
  });

  it('releases the ENI of a set from an instance that does not hold its primary volume', async () => {
    // Prepare: a node, a spare, and a new set whose ENI someone attached to the spare
    setup({ sets: 1 });
    const ids = await launchAll(2);
    const nodeId = ids.find((id) => fx.cloud.ec2.instance(id)?.tags.NodeID) ?? '';
    const spareId = ids.find((id) => id !== nodeId) ?? '';
    const extra = fx.seedSet();
    await fx.clients.ec2.send(
      new AttachNetworkInterfaceCommand({
        NetworkInterfaceId: extra.networkInterfaceId,
        InstanceId: spareId,
        DeviceIndex: 1,
      }),
    );
    await fx.cloud.clock.sleep(5_000);
    // Act
    const report = await reconcile(scheduled);
    // Assess
    expect(report.released).toEqual([
      { nodeId: extra.nodeId, instanceId: spareId, pieces: [extra.networkInterfaceId] },
    ]);
    expect(nodeId).not.toBe(spareId);
    expect(report.promoted).toEqual([{ spareId, nodeId: extra.nodeId, outcome: 'promoted' }]);
  });

  it('promotes a spare onto a set that became free', async () => {
    // Prepare: one set, two instances: a node and a spare; then a new set appears
    setup({ sets: 1 });
    const [, spareId = ''] = await launchAll(2);
    const extra = fx.seedSet();
    // Act
    const report = await reconcile(scheduled);
    // Assess
    const promoted = report.promoted.find((p) => p.outcome === 'promoted');
    expect(promoted?.nodeId).toBe(extra.nodeId);
    const holder = promoted?.spareId ?? spareId;
    expect(fx.attachedVolumes(holder)).toEqual(extra.volumeIds);
    expect(fx.cloud.ec2.instance(holder)?.tags.NodeID).toBe(extra.nodeId);
  });

  it.each([
    ['its SSM agent is offline', (f: CloudFixture) => (f.cloud.ssm.agentOnlineDelayMs = 3_600_000)],
    [
      'SendCommand answers InvalidInstanceId',
      (f: CloudFixture) => f.cloud.faults.failNext('SendCommand', 'InvalidInstanceId'),
    ],
  ])(
    'gives the set back, unprepared, when a spare is promoted while %s; a later run promotes it',
    async (_what, fault) => {
      // Prepare: a node and a spare; a new set appears; the spare's agent cannot take a command
      setup({ sets: 1 });
      const ids = await launchAll(2);
      const spareId = ids.find((id) => !fx.cloud.ec2.instance(id)?.tags.NodeID) ?? '';
      const extra = fx.seedSet();
      const onlineDelay = fx.cloud.ssm.agentOnlineDelayMs;
      fault(fx);
      // Act
      const report = await reconcile(scheduled);
      // Assess: nothing ran on the host, so nothing stays attached and the spare is still a spare
      expect(report.promoted).toEqual([{ spareId, nodeId: extra.nodeId, outcome: 'failed' }]);
      expect(
        fx.cloud.ssm.recorder.requestsFor('prepare-node.sh').filter((r) => r.instanceId === spareId),
      ).toEqual([]);
      expect(fx.attachedVolumes(spareId)).toEqual([]);
      expect(fx.cloud.ec2.instance(spareId)?.tags.NodeID).toBeUndefined();
      // Act: the agent is back; the next run
      fx.cloud.ssm.agentOnlineDelayMs = onlineDelay;
      const again = await reconcile(scheduled);
      // Assess
      expect(again.promoted).toEqual([{ spareId, nodeId: extra.nodeId, outcome: 'promoted' }]);
      expect(fx.attachedVolumes(spareId)).toEqual(extra.volumeIds);
    },
  );

  it('publishes FreeSets, Nodes, Spares and HalfAttached as EMF metrics with the group dimension', async () => {
    // Prepare: three sets, one node, one set broken (no ENI)
    setup({ sets: 3 });
    await launchAll(1);
    fx.seedSet({ enis: 0 });
    const lines: string[] = [];
    const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    });
    // Act
    let report;
    try {
      report = await reconcile(scheduled);
    } finally {
      spy.mockRestore();
    }
    // Assess
    const emf = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => '_aws' in l);
    expect(emf).toMatchObject({
      Group: 'etcd-nodes',
      FreeSets: 2,
      Nodes: 1,
      Spares: 0,
      HalfAttached: 0,
      BadSets: 1,
    });
    const directive = (emf?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] })
      .CloudWatchMetrics[0];
    expect(directive?.Namespace).toBe('Berth');
    expect(directive?.Dimensions[0]).toContain('Group');
    expect(report?.gauges).toMatchObject({ FreeSets: 2, Nodes: 1 });
  });

  it('heals and promotes with 30 % of calls throttled', async () => {
    // Prepare: a node that lost its ENI, a spare, and a new free set
    setup({ sets: 1, seed: 5 });
    const ids = await launchAll(2);
    const nodeId = ids.find((id) => fx.cloud.ec2.instance(id)?.tags.NodeID) ?? '';
    const set = fx.sets[0];
    const attachmentId = fx.cloud.ec2.networkInterface(set?.networkInterfaceId ?? '')?.attachment
      ?.attachmentId;
    await fx.clients.ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId }));
    await fx.cloud.clock.sleep(10_000);
    const extra = fx.seedSet();
    fx.cloud.faults.throttleRate = 0.3;
    // Act
    const report = await reconcile(scheduled);
    // Assess
    fx.cloud.faults.throttleRate = 0;
    expect(report.finished).toEqual([set?.nodeId]);
    expect(report.promoted.map((p) => [p.nodeId, p.outcome])).toEqual([[extra.nodeId, 'promoted']]);
    expect(fx.cloud.ec2.networkInterface(set?.networkInterfaceId ?? '')?.attachment?.instanceId).toBe(nodeId);
  });

  it('releases a second set from a node whose NodeID tag names another set', async () => {
    // Prepare: a node, and a second set attached to it by a run that lost (no prepare-node ran)
    setup({ sets: 1 });
    const [nodeId = ''] = await launchAll(1);
    const extra = fx.seedSet();
    await fx.clients.ec2.send(
      new AttachVolumeCommand({ VolumeId: extra.volumeIds[0], InstanceId: nodeId, Device: '/dev/sdp' }),
    );
    await fx.cloud.clock.sleep(5_000);
    // Act
    const report = await reconcile(scheduled);
    // Assess
    expect(report.released).toEqual([{ nodeId: extra.nodeId, instanceId: nodeId, pieces: extra.volumeIds }]);
    expect(fx.attachedVolumes(nodeId)).toEqual(fx.sets[0]?.volumeIds);
  });

  it("lists the group's disk alarms by prefix under its own role and re-creates a missing one", async () => {
    // Prepare: a growth group with one node whose disk alarm someone deleted
    setup({ sets: 1, settings: { growth: { strategy: 'add-device' } } });
    const [nodeId = ''] = await launchAll(1);
    const name = alarmName(fx.settings, nodeId);
    await fx.clients.cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: [name] }));
    const calls = fx.cloud.authorizer.calls;
    fx.cloud.accounting.keepLog = true;
    // Act: DescribeAlarms with AlarmNamePrefix is authorized against alarm:* (a real account
    // refuses it to a policy that grants only this group's alarm names)
    const report = await reconcile(scheduled);
    // Assess
    expect(report.gauges.Nodes).toBe(1);
    expect(fx.cloud.cloudwatch.alarmNames()).toContain(name);
    expect(fx.cloud.authorizer.calls).toBeGreaterThan(calls);
    expect(fx.cloud.authorizer.denied).toBe(0);
    // The prefix it lists by is the one the synthesized alarm statement is scoped to
    const listed = fx.cloud.accounting.log.find((c) => c.operation === 'DescribeAlarms');
    const prefix = (listed?.input as { AlarmNamePrefix?: string }).AlarmNamePrefix;
    expect(prefix).toBe(instanceAlarmPrefix(alarmNamePrefix(fx.settings)));
    const alarmStatement = fx.deployed.roles.reconcile?.statements.find(
      (st) => st.Sid === 'AlarmsOfThisGroup',
    );
    expect(alarmStatement?.Resource).toBe(`arn:aws:cloudwatch:eu-west-1:111111111111:alarm:${prefix}*`);
  });
});
