import { Logger } from '@aws-lambda-powertools/logger';
import { launch } from '../../helpers/handlers';
import { terminate } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, TERMINATE_EVENT } from '../../helpers/cloud-fixture';

describe('terminate handler', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  async function nodeWithSet(options: ConstructorParameters<typeof CloudFixture>[0] = {}): Promise<string> {
    fx = new CloudFixture({ sets: 1, ...options });
    restore = fx.plugHandlers();
    const [instanceId = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    return instanceId;
  }

  it('quiesces the host, then detaches the ENI and volumes and continues termination', async () => {
    // Prepare
    const instanceId = await nodeWithSet({ volumesPerSet: 2 });
    fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, instanceId));
    // Assess
    const set = fx.sets[0];
    expect(outcome).toMatchObject({ result: 'released', nodeId: set?.nodeId });
    expect(fx.cloud.ssm.recorder.requestsFor('quiesce-node.sh')).toHaveLength(1);
    for (const volumeId of set?.volumeIds ?? [])
      expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('available');
    expect(fx.cloud.ec2.networkInterface(set?.networkInterfaceId ?? '')?.state).toBe('available');
    expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('does not detach anything when quiesce-node fails, and still continues termination', async () => {
    // Prepare
    const instanceId = await nodeWithSet();
    fx.cloud.ssm.recorder.respond('quiesce-node.sh', {
      exitCode: 1,
      stdout: '{"ok":false,"action":"quiesce-node","error":"mount busy"}\n',
    });
    fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'not-quiesced' });
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.cloud.accounting.count('ec2:DetachNetworkInterface')).toBe(0);
    expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('gives the freed set to a waiting spare, which gets prepare-node too', async () => {
    // Prepare: one set, a node and a spare
    const nodeId = await nodeWithSet();
    const [spareId = ''] = fx.launch(1);
    const spareLaunch = await launch(fx.takeEvent(LAUNCH_EVENT, spareId));
    fx.cloud.autoscaling.terminateInstance(nodeId, { decrementCapacity: true });
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, nodeId));
    // Assess
    const set = fx.sets[0];
    expect(spareLaunch).toMatchObject({ result: 'spare' });
    expect(outcome).toMatchObject({ result: 'released', promoted: { spareId, outcome: 'promoted' } });
    expect(fx.attachedVolumes(spareId)).toEqual(set?.volumeIds);
    expect(fx.cloud.ec2.instance(spareId)?.tags.NodeID).toBe(set?.nodeId);
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh').map((r) => r.instanceId)).toEqual([
      nodeId,
      spareId,
    ]);
  });

  it('hands the same set (same volumes, same ENI) to the replacement of a terminated node', async () => {
    // Prepare
    const oldId = await nodeWithSet({ volumesPerSet: 2 });
    fx.cloud.autoscaling.terminateInstance(oldId); // replaced: desired capacity stays
    const terminateEvent = fx.takeEvent(TERMINATE_EVENT, oldId);
    const [launchEvent] = fx.launchEvents();
    const newId = String(launchEvent?.detail.EC2InstanceId);
    fx.cloud.ssm.recorder.respond('quiesce-node.sh', { durationMs: 120_000 }); // a slow, busy host
    const waits: unknown[] = [];
    jest.spyOn(Logger.prototype, 'info').mockImplementation(((message: unknown) => {
      if (message === 'waiting for sets held by terminating instances') waits.push(message);
    }) as never);
    // Act: both handlers run at once; the launch waits for the set held by the terminating node
    const [launched, terminated] = await Promise.all([launch(launchEvent), terminate(terminateEvent)]);
    jest.restoreAllMocks();
    // Assess
    const set = fx.sets[0];
    expect(terminated).toMatchObject({ result: 'released' });
    expect(waits.length).toBeGreaterThan(0);
    expect(launched).toMatchObject({ result: 'node', nodeId: set?.nodeId });
    expect(fx.attachedVolumes(newId)).toEqual([...(set?.volumeIds ?? [])].sort());
    expect(
      fx.cloud.ec2.instance(newId)?.networkInterfaces.find((n) => n.deviceIndex === 1)?.networkInterfaceId,
    ).toBe(set?.networkInterfaceId);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('releases the set and promotes the spare with 30 % of calls throttled', async () => {
    // Prepare
    const nodeId = await nodeWithSet({ volumesPerSet: 2, seed: 11 });
    const [spareId = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, spareId));
    fx.cloud.autoscaling.terminateInstance(nodeId, { decrementCapacity: true });
    fx.cloud.faults.throttleRate = 0.3;
    // Act
    const outcome = await terminate(fx.takeEvent(TERMINATE_EVENT, nodeId));
    // Assess
    fx.cloud.faults.throttleRate = 0;
    expect(outcome).toMatchObject({ result: 'released', promoted: { spareId, outcome: 'promoted' } });
    expect(fx.attachedVolumes(spareId)).toEqual([...(fx.sets[0]?.volumeIds ?? [])].sort());
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('stops waiting for a terminating node after waitForTerminatingSeconds and continues as a spare', async () => {
    // Prepare: the old node's terminate event is lost, so it holds its set for the whole hook timeout
    const oldId = await nodeWithSet({ settings: { timeouts: { waitForTerminatingSeconds: 60 } } });
    fx.cloud.autoscaling.terminateInstance(oldId);
    fx.terminateEvents();
    const [launchEvent] = fx.launchEvents();
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await launch(launchEvent);
    // Assess
    expect(outcome).toMatchObject({ result: 'spare', attempts: 0 });
    const waitedSeconds = (fx.cloud.clock.now() - started) / 1000;
    expect(waitedSeconds).toBeGreaterThanOrEqual(60);
    expect(waitedSeconds).toBeLessThan(200);
  });

  it('bounds the wait for a terminating node by the Lambda time left', async () => {
    // Prepare: the default wait is 30 minutes, the invocation has 3 minutes left
    const oldId = await nodeWithSet();
    fx.cloud.autoscaling.terminateInstance(oldId);
    fx.terminateEvents();
    const [launchEvent] = fx.launchEvents();
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await launch(launchEvent, { getRemainingTimeInMillis: () => 180_000 });
    // Assess
    expect(outcome).toMatchObject({ result: 'spare' });
    expect(fx.cloud.clock.now() - started).toBeLessThan(180_000);
  });

  it('ends with the set free and the action complete when killed after any AWS call and run again', async () => {
    // Prepare: how many calls a clean terminate makes
    const first = await nodeWithSet({ volumesPerSet: 2 });
    fx.cloud.autoscaling.terminateInstance(first, { decrementCapacity: true });
    const before = fx.cloud.accounting.count();
    await terminate(fx.takeEvent(TERMINATE_EVENT, first));
    const calls = fx.cloud.accounting.count() - before;
    restore();
    for (let n = 1; n <= calls; n++) {
      const instanceId = await nodeWithSet({ volumesPerSet: 2 });
      fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
      const event = fx.takeEvent(TERMINATE_EVENT, instanceId);
      fx.cloud.faults.killAfter(n);
      // Act
      await terminate(event).catch(() => undefined);
      fx.cloud.faults.revive();
      await terminate(event);
      await fx.cloud.clock.sleep(60_000); // termination finishes
      // Assess
      const set = fx.sets[0];
      for (const volumeId of set?.volumeIds ?? [])
        expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('available');
      expect(fx.cloud.ec2.networkInterface(set?.networkInterfaceId ?? '')?.state).toBe('available');
      expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
      expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
      restore();
    }
    await nodeWithSet(); // afterEach restores this one
  }, 120_000);
});
