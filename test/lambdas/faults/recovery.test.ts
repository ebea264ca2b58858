/**
 * berth's handlers recover from each fault class of the campaign (issue 13), shown through their
 * public entry points on the local cloud: late, offline and absent SSM agents, an AZ brownout,
 * attachments stuck in `attaching`, invocations cut mid-flow, instances stopped under the group,
 * and alarm event storms.
 */
import { grow, launch, reconcile, terminate } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, TERMINATE_EVENT } from '../../helpers/cloud-fixture';
import { endBrownout, startBrownout } from '../../../local-cloud/src/zones';
import { ALARM_EVENT, growthFixture, nodeWithSet, handlerSuite } from '../grow/grow-fixture';
import { alarmName } from '../../../lambdas/shared/alarm-names';

describe('handlers under the campaign fault classes', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  function setup(options: ConstructorParameters<typeof CloudFixture>[0] = {}): void {
    fx = new CloudFixture({ sets: 1, ...options });
    handlers.plug(fx);
  }

  const prepares = (instanceId: string) =>
    fx.cloud.ssm
      .commandHistory()
      .filter((i) => i.instanceId === instanceId && i.documentName === fx.settings.documents.prepareNode);

  it('agentLate: waits for an agent that registers minutes late, then prepares the node', async () => {
    // Prepare
    setup();
    const [id = ''] = fx.launch(1);
    fx.cloud.ssm.agentLate(id, 240_000);
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id).map((p) => p.status)).toEqual(['Success']);
    expect(prepares(id)[0]?.requestedAt).toBeGreaterThanOrEqual(fx.cloud.ssm.agentOnlineAt(id) ?? Infinity);
  });

  it('agentNever: abandons the launch within the bounded agent wait and leaves the set free', async () => {
    // Prepare
    setup();
    const [id = ''] = fx.launch(1);
    fx.cloud.ssm.agentNever(id);
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess
    expect(outcome).toMatchObject({ result: 'abandoned' });
    await fx.cloud.clock.sleep(120_000); // the abandoned instance terminates
    fx.cloud.autoscaling.settle();
    const set = fx.sets[0];
    for (const volumeId of set?.volumeIds ?? [])
      expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('available');
    expect(fx.cloud.autoscaling.pendingActions().filter((a) => a.instanceId === id)).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('agentOffline + deadline: a retried launch never sends prepare-node while the first still runs on the host', async () => {
    // Prepare: the first run sends prepare-node, then the agent loses its connection (the command
    // stays InProgress) and the run is cut at its deadline.
    setup();
    const [id = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, id);
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 400_000,
    });
    fx.cloud.faults.killAfterCall('SendCommand');
    await expect(launch(event)).rejects.toThrow('handler killed');
    fx.cloud.faults.revive();
    fx.cloud.ssm.agentOffline(id, fx.cloud.clock.now(), 60_000);
    // Act: EventBridge delivers the event again.
    const outcome = await launch(structuredClone(event));
    // Assess: one prepare at a time on the host; the node is prepared.
    expect(outcome).toMatchObject({ result: 'node' });
    const runs = prepares(id).sort((a, b) => a.requestedAt - b.requestedAt);
    for (let i = 1; i < runs.length; i++)
      expect(runs[i]?.requestedAt).toBeGreaterThanOrEqual(runs[i - 1]?.endAt ?? Infinity);
  });

  it('azBrownout: a launch that fails while its AZ browns out succeeds when EventBridge retries after it', async () => {
    // Prepare
    setup();
    const [id = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, id);
    startBrownout(fx.cloud, 'eu-west-1a');
    // Act
    const first = await launch(event).then(
      (r) => r,
      (e: unknown) => e,
    );
    endBrownout(fx.cloud);
    const second = await launch(structuredClone(event));
    // Assess
    expect(fx.cloud.faults.counts.azBrownout ?? 0).toBeGreaterThan(0);
    expect(first).not.toMatchObject({ result: 'node' });
    expect(second).toMatchObject({ result: 'node' });
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it.each([
    ['launch', 'node'],
    ['terminate', 'released'],
  ] as const)(
    'azBrownout: retries that fail at once through a brownout longer than the heartbeat timeout keep the %s hook alive',
    async (flow, result) => {
      // Prepare: the AZ browns out for three heartbeat timeouts; EventBridge retries every minute.
      // For terminate, a node in eu-west-1a is replaced (fault campaign, seed 6).
      setup();
      const [id = ''] = fx.launch(1);
      let event = fx.takeEvent(LAUNCH_EVENT, id);
      const run = flow === 'launch' ? launch : terminate;
      if (flow === 'terminate') {
        expect(await launch(event)).toMatchObject({ result: 'node' });
        fx.cloud.autoscaling.terminateInstance(id, { decrementCapacity: true });
        event = fx.takeEvent(TERMINATE_EVENT, id);
      }
      startBrownout(fx.cloud, 'eu-west-1a');
      const until = fx.cloud.clock.now() + 3 * fx.settings.timeouts.heartbeatSeconds * 1000;
      // Act
      while (fx.cloud.clock.now() < until) {
        await expect(run(structuredClone(event))).rejects.toThrow(/Unavailable|InternalError/);
        await fx.cloud.clock.sleep(60_000);
      }
      endBrownout(fx.cloud);
      const last = await run(structuredClone(event));
      // Assess: the flow ends its way and the lifecycle action never timed out
      expect(last).toMatchObject({ result });
      expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
    },
  );

  it('attachStuck: a volume stuck in attaching is force-detached after the bounded wait, never left holding the set', async () => {
    // Prepare
    setup();
    const [id = ''] = fx.launch(1);
    fx.cloud.ec2.stickNextAttachments = 1;
    fx.cloud.accounting.keepLog = true;
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess: the launch gave up on it; the stuck volume was released with Force and is free again.
    expect(outcome).toMatchObject({ result: 'abandoned' });
    const stuck = fx.cloud.ec2.stuckAttachments[0] ?? '';
    expect(fx.cloud.ec2.volume(stuck)?.state).toBe('available');
    const detaches = fx.cloud.accounting.log.filter((c) => c.operation === 'DetachVolume' && !c.error);
    expect(detaches.map((c) => (c.input as { Force?: boolean }).Force)).toContain(true);
    const [next = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, next))).toMatchObject({ result: 'node' });
  });

  it('agentNever: the terminate hook of an instance whose agent never registered completes at once', async () => {
    // Prepare: a spare whose agent never registers holds a set (attached by hand: no host step ran).
    setup({ sets: 0 });
    const [id = ''] = fx.launch(1);
    fx.cloud.ssm.agentNever(id);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'spare' });
    const az = fx.cloud.ec2.instance(id)?.availabilityZone ?? '';
    const set = fx.seedSet({ availabilityZone: az });
    fx.cloud.ec2.handle('AttachVolume', { VolumeId: set.volumeIds[0], InstanceId: id, Device: '/dev/sdf' });
    await fx.cloud.clock.sleep(10_000);
    fx.cloud.autoscaling.terminateInstance(id, { decrementCapacity: true });
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, id));
    // Assess: no 600 s wait for an agent that cannot come; nothing detached; the hook completed.
    expect(outcome).toMatchObject({ result: 'not-quiesced' });
    expect(fx.cloud.clock.now() - started).toBeLessThan(60_000);
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.cloud.autoscaling.pendingActions().filter((a) => a.instanceId === id)).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('agentNever: a terminate does not promote a spare whose agent never registered in time; the freed set stays free', async () => {
    // Prepare: a node holding the only set, and a spare whose agent never registers
    setup({ sets: 1 });
    const [node = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, node))).toMatchObject({ result: 'node' });
    const [spare = ''] = fx.launch(1);
    fx.cloud.ssm.agentNever(spare);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, spare))).toMatchObject({ result: 'spare' });
    await fx.cloud.clock.sleep((fx.settings.timeouts.agentOnlineSeconds + 60) * 1000); // it will not come
    fx.cloud.autoscaling.terminateInstance(node, { decrementCapacity: true });
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, node));
    // Assess: no wait for an agent that cannot come; the set is free, nothing attached to the spare
    expect(outcome).toMatchObject({ result: 'released', promoted: { spareId: spare, outcome: 'skipped' } });
    expect(fx.cloud.clock.now() - started).toBeLessThan(120_000);
    for (const volumeId of fx.sets[0]?.volumeIds ?? [])
      expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('available');
  });

  it('agentNever: reconcile releases a set from a holder whose agent never registered instead of re-preparing it forever', async () => {
    // Prepare: a spare whose agent never registers holds a whole set (a promotion cut at its
    // deadline before its undo): attached by hand, no host step ever ran there
    setup({ sets: 0 });
    const [id = ''] = fx.launch(1);
    fx.cloud.ssm.agentNever(id);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'spare' });
    const set = fx.seedSet({ availabilityZone: fx.cloud.ec2.instance(id)?.availabilityZone ?? '' });
    for (const [i, volumeId] of set.volumeIds.entries())
      fx.cloud.ec2.handle('AttachVolume', {
        VolumeId: volumeId,
        InstanceId: id,
        Device: `/dev/sd${'fghij'[i]}`,
      });
    fx.cloud.ec2.handle('AttachNetworkInterface', {
      NetworkInterfaceId: set.networkInterfaceId,
      InstanceId: id,
      DeviceIndex: fx.settings.eniDeviceIndex,
    });
    // Past the agent's registration window and one invocation: no promotion can still wait for it.
    await fx.cloud.clock.sleep((fx.settings.timeouts.agentOnlineSeconds + 900) * 1000 + 10_000);
    // Act
    const report = await reconcile({});
    // Assess: released (nothing can be mounted there), not counted unprepared, no command sent
    expect(report.released).toEqual([expect.objectContaining({ nodeId: set.nodeId, instanceId: id })]);
    expect(report.gauges.Unprepared).toBe(0);
    for (const volumeId of set.volumeIds) expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('available');
    expect(
      fx.cloud.ec2.networkInterfaces().find((e) => e.networkInterfaceId === set.networkInterfaceId)?.state,
    ).toBe('available');
    expect(fx.cloud.accounting.count('ssm:SendCommand')).toBe(0);
  });

  it('kill + reconcile: a set half-detached by a promotion still undoing is not finished under it', async () => {
    // Prepare: a spare (agent online, untagged) holds the primary and one more piece of a set, as a
    // promotion's undo leaves it half-way (it detaches the pieces one by one, the primary last)
    setup({ sets: 0 });
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'spare' });
    const set = fx.seedSet({
      availabilityZone: fx.cloud.ec2.instance(id)?.availabilityZone ?? '',
      volumes: 3,
    });
    for (const [i, volumeId] of set.volumeIds.slice(0, 2).entries())
      fx.cloud.ec2.handle('AttachVolume', {
        VolumeId: volumeId,
        InstanceId: id,
        Device: `/dev/sd${'fg'[i]}`,
      });
    await fx.cloud.clock.sleep(60_000);
    // Act: a reconcile while the promotion's run may still detach the rest
    const early = await reconcile({});
    // Assess: nothing attached or prepared there (the undo's next detaches would hit a mount)
    expect(early.finished).toEqual([]);
    expect(prepares(id)).toHaveLength(0);
    expect(fx.cloud.ec2.volume(set.volumeIds[2] ?? '')?.state).toBe('available');
    // Act: once no run of the promotion can be left (one invocation), the set is the reconciler's
    await fx.cloud.clock.sleep(900_000);
    const late = await reconcile({});
    // Assess
    expect(late.finished).toEqual([set.nodeId]);
    expect(prepares(id)).toHaveLength(1);
  });

  it('instanceStopped: the terminate hook of a stopped node completes at once and detaches nothing', async () => {
    // Prepare
    setup();
    const [id = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, id));
    fx.cloud.ec2.stopInstance(id);
    await fx.cloud.clock.sleep(60_000);
    fx.cloud.autoscaling.settle();
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, id));
    // Assess
    expect(outcome).toMatchObject({ result: 'not-quiesced' });
    expect(fx.cloud.clock.now() - started).toBeLessThan(60_000);
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.cloud.autoscaling.pendingActions().filter((a) => a.instanceId === id)).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('alarmFlap: an alarm event storm grows the node once', async () => {
    // Prepare
    fx = growthFixture();
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    const name = alarmName(fx.settings, instanceId);
    const changes = fx.cloud.cloudwatch.flap(name, 7);
    const events = fx.cloud.events.drain(ALARM_EVENT).filter((e) => e.detail.alarmName === name);
    // Act: EventBridge delivers every state change (the OK ones are not grow triggers).
    const results = await Promise.all(events.map((e) => grow(e).catch((error: unknown) => error)));
    // Assess
    expect(changes).toBe(7);
    expect(results.filter((r) => (r as { grown?: boolean }).grown === true)).toHaveLength(1);
    const grown = fx.cloud.ec2
      .volumes()
      .filter((v) => v.tags['berth:instance'] === instanceId && v.state !== 'deleted');
    expect(grown.filter((v) => v.tags['berth:grow-state'] === 'joined')).toHaveLength(1);
  });
});
