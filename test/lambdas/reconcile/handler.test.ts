import { DeleteAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import {
  AttachNetworkInterfaceCommand,
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteTagsCommand,
  DetachNetworkInterfaceCommand,
  DetachVolumeCommand,
} from '@aws-sdk/client-ec2';
import { launch } from '../../helpers/handlers';
import { reconcile } from '../../helpers/handlers';
import { alarmName, alarmNamePrefix } from '../../../lambdas/shared/alarm-names';
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

  it('forces the detach of a set volume stuck in attaching on its holder, attaches it again and finishes the set', async () => {
    // Prepare: a node whose second volume was detached, then attached again by an attach that stuck
    setup({ sets: 1, volumesPerSet: 2 });
    const [nodeId = ''] = await launchAll(1);
    const [, second = ''] = fx.sets[0]?.volumeIds ?? [];
    await fx.clients.ec2.send(new DetachVolumeCommand({ VolumeId: second, InstanceId: nodeId }));
    await fx.cloud.clock.sleep(30_000);
    fx.cloud.ec2.stickNextAttachments = 1;
    await fx.clients.ec2.send(
      new AttachVolumeCommand({ VolumeId: second, InstanceId: nodeId, Device: '/dev/sdg' }),
    );
    await fx.cloud.clock.sleep((fx.settings.timeouts.attachSeconds + 60) * 1000);
    expect(fx.cloud.ec2.volume(second)?.attachments[0]?.state).toBe('attaching');
    // Act
    const report = await reconcile(scheduled);
    // Assess: forced off, attached again, the set finished
    expect(report.errors).toEqual([]);
    expect(report.finished).toEqual([fx.sets[0]?.nodeId]);
    expect(fx.cloud.ec2.volume(second)?.attachments[0]?.state).toBe('attached');
    expect(fx.attachedVolumes(nodeId)).toEqual(fx.sets[0]?.volumeIds);
  });

  it('a grown volume left behind by its set (pending, attached nowhere) is no piece: not attached, the set counts as held', async () => {
    // Prepare: set 0 carries a grown volume that never joined (its grow died before the host step)
    setup({ sets: 1 });
    const set = fx.sets[0];
    const created = await fx.clients.ec2.send(
      new CreateVolumeCommand({
        AvailabilityZone: set?.availabilityZone ?? '',
        Size: 100,
        TagSpecifications: [
          {
            ResourceType: 'volume',
            Tags: [
              { Key: fx.settings.nodeIdTagKey, Value: set?.nodeId ?? '' },
              { Key: fx.settings.ordinalTagKey, Value: '1' },
              { Key: fx.settings.ownerTagKey, Value: fx.settings.groupName },
              { Key: 'berth:grow-state', Value: 'pending' },
              { Key: 'Service', Value: 'etcd' }, // the group's filters (the fixture's default)
            ],
          },
        ],
      }),
    );
    const leftBehind = created.VolumeId ?? '';
    await fx.cloud.clock.sleep(10_000);
    // Act: a launch claims the set, then the reconciler looks
    const [nodeId = ''] = await launchAll(1);
    const report = await reconcile(scheduled);
    // Assess: the node holds the set's own volumes only; the set is a node, not half-attached
    expect(fx.cloud.ec2.instance(nodeId)?.tags.NodeID).toBe(set?.nodeId);
    expect(fx.cloud.ec2.volume(leftBehind)?.attachments ?? []).toEqual([]);
    expect(fx.attachedVolumes(nodeId)).toEqual(set?.volumeIds);
    expect(report.gauges).toMatchObject({ Nodes: 1, HalfAttached: 0 });
    expect(report.finished).toEqual([]);
  });

  it('runs prepare-node again on holders not prepared for the set they hold, a bounded number per run, and counts the rest', async () => {
    // Prepare: three nodes; one whose prepare mark is gone, one whose mark names another set
    setup({ sets: 3, settings: { maxPreparesPerRun: 1 } });
    const ids = await launchAll(3);
    const nodeOf = (id: string) => fx.cloud.ec2.instance(id)?.tags.NodeID ?? '';
    expect(ids.map((id) => fx.cloud.ec2.instance(id)?.tags['berth:prepared'])).toEqual(ids.map(nodeOf));
    const [lost = '', moved = '', fine = ''] = [...ids].sort();
    await fx.clients.ec2.send(
      new DeleteTagsCommand({ Resources: [lost], Tags: [{ Key: 'berth:prepared' }] }),
    );
    await fx.clients.ec2.send(
      new CreateTagsCommand({ Resources: [moved], Tags: [{ Key: 'berth:prepared', Value: nodeOf(fine) }] }),
    );
    const before = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh').length;
    // Act
    const first = await reconcile(scheduled);
    const second = await reconcile(scheduled);
    const third = await reconcile(scheduled);
    // Assess: one re-prepare per run, the gauge counts what is left, and both end prepared
    expect(first.reprepared).toHaveLength(1);
    expect(first.gauges.Unprepared).toBe(1);
    expect(second.reprepared).toHaveLength(1);
    expect(second.gauges.Unprepared).toBe(0);
    expect(third.reprepared).toEqual([]);
    expect(
      [...first.reprepared, ...second.reprepared].map((r) => [r.instanceId, r.nodeId, r.ok]).sort(),
    ).toEqual(
      [
        [lost, nodeOf(lost), true],
        [moved, nodeOf(moved), true],
      ].sort(),
    );
    const again = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh').slice(before);
    expect(again.map((r) => [r.instanceId, r.parameters.NodeId]).sort()).toEqual(
      [
        [lost, nodeOf(lost)],
        [moved, nodeOf(moved)],
      ].sort(),
    );
    for (const id of ids) expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(nodeOf(id));
  });

  it('prepares on a later run a promoted spare whose prepare-node failed on the host', async () => {
    // Prepare: a node, a spare, a new set; the first prepare-node on the spare fails
    setup({ sets: 1 });
    const ids = await launchAll(2);
    const spareId = ids.find((id) => !fx.cloud.ec2.instance(id)?.tags.NodeID) ?? '';
    const extra = fx.seedSet();
    let failures = 1;
    fx.cloud.ssm.recorder.respond('prepare-node.sh', (request) =>
      request.instanceId === spareId && failures-- > 0
        ? {
            exitCode: 1,
            stdout: '{"ok":false,"action":"prepare-node","code":"failed","error":"disk busy"}\n',
          }
        : {},
    );
    // Act
    const first = await reconcile(scheduled);
    const second = await reconcile(scheduled);
    // Assess: the set stayed with the spare (the command ran), unprepared until the second run
    expect(first.promoted).toEqual([{ spareId, nodeId: extra.nodeId, outcome: 'failed' }]);
    expect(fx.attachedVolumes(spareId)).toEqual(extra.volumeIds);
    expect(second.reprepared).toEqual([{ instanceId: spareId, nodeId: extra.nodeId, ok: true }]);
    expect(second.gauges.Unprepared).toBe(0);
    expect(fx.cloud.ec2.instance(spareId)?.tags['berth:prepared']).toBe(extra.nodeId);
    expect(fx.cloud.ec2.instance(spareId)?.tags.NodeID).toBe(extra.nodeId);
  });

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
      Unprepared: 0,
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
