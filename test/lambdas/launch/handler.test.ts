import { AttachVolumeCommand, CreateTagsCommand, DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { Logger } from '@aws-lambda-powertools/logger';
import { launch as handler } from '../../helpers/handlers';
import { commandDocumentContent } from '../../../infra/document-content';
import { contractBlock, DEVICE_NAMES } from '../../../lambdas/shared/contract';
import { clients as runtimeClients } from '../../../lambdas/shared/runtime';
import {
  CloudFixture,
  LAUNCH_EVENT,
  pluggedFixtures,
  type FixtureOptions,
} from '../../helpers/cloud-fixture';

describe('launch handler', () => {
  let fx: CloudFixture;
  const fixture = pluggedFixtures();

  function setup(options: FixtureOptions = {}): CloudFixture {
    fx = fixture(options);
    return fx;
  }

  it('gives a launching instance a complete free set and continues the lifecycle action', async () => {
    // Prepare
    setup({ sets: 1, volumesPerSet: 2 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    // Act
    const outcome = await handler(event);
    // Assess
    const set = fx.sets[0];
    expect(outcome).toMatchObject({ result: 'node', nodeId: set?.nodeId, attempts: 1 });
    expect(fx.attachedVolumes(instanceId)).toEqual([...(set?.volumeIds ?? [])].sort());
    const instance = fx.cloud.ec2.instance(instanceId);
    expect(instance?.networkInterfaces.find((n) => n.deviceIndex === 1)?.networkInterfaceId).toBe(
      set?.networkInterfaceId,
    );
    expect(instance?.tags.NodeID).toBe(set?.nodeId);
    expect(instance?.tags['berth:prepared']).toBe(set?.nodeId);
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
    const prepare = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    expect(prepare).toHaveLength(1);
    expect(prepare[0]?.parameters).toMatchObject({
      VolumeIds: set?.volumeIds.join(','),
      NodeId: set?.nodeId,
      NetworkInterfaceId: set?.networkInterfaceId,
      NodeIp: set?.privateIp,
      MountPoint: '/data',
      Filesystem: 'btrfs',
    });
  });
  it("attaches a large set at EC2's documented device names, which the prepare-node document accepts", async () => {
    // Prepare: 22 volumes, one more than /dev/sd[f-z] holds
    setup({ sets: 1, volumesPerSet: 22 });
    const [instanceId = ''] = fx.launch(1);
    const allowed = new RegExp(
      commandDocumentContent('prepareNode', `#!/usr/bin/env bash\n${contractBlock()}\n`, 600).parameters
        .DeviceNames?.allowedPattern ?? '^$',
    );
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'node' });
    const [prepare] = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    const devices = String(prepare?.parameters.DeviceNames).split(',');
    expect(devices).toEqual(DEVICE_NAMES.slice(0, 22));
    expect(allowed.test(devices.join(','))).toBe(true);
  });

  it('treats a device name taken by another run of the same launch as a lost race for that name, not a failure', async () => {
    // Prepare: two free sets; just before this run attaches its first volume, another run of the
    // same launch attaches the other set's primary at the same device name
    setup({ sets: 2 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    const other = fx.sets[1];
    const send = runtimeClients.ec2.send.bind(runtimeClients.ec2);
    let raced = '';
    jest.spyOn(runtimeClients.ec2, 'send').mockImplementation((async (command: unknown) => {
      if (
        !raced &&
        command instanceof AttachVolumeCommand &&
        command.input.VolumeId !== other?.volumeIds[0]
      ) {
        raced = command.input.Device ?? '';
        await fx.clients.ec2.send(
          new AttachVolumeCommand({ VolumeId: other?.volumeIds[0], InstanceId: instanceId, Device: raced }),
        );
      }
      return send(command as never);
    }) as never);
    // Act
    let outcome;
    try {
      outcome = await handler(event);
    } finally {
      jest.restoreAllMocks();
    }
    // Assess: the run lost the name, picked another, and the launch went on (one set kept)
    expect(raced).toBe('/dev/sdf');
    expect(outcome).toMatchObject({ result: 'node' });
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
    const kept = fx.sets.find((set) => set.nodeId === (outcome as { nodeId?: string }).nodeId);
    expect(fx.attachedVolumes(instanceId)).toEqual(expect.arrayContaining(kept?.volumeIds ?? ['none']));
    expect(fx.cloud.ec2.instance(instanceId)?.tags.NodeID).toBe(kept?.nodeId);
  });

  it('neither attaches nor names to prepare-node a grown volume of the set that never joined its filesystem', async () => {
    // Prepare: the set's second volume is a grow whose run died before the host step
    setup({ sets: 1, volumesPerSet: 2 });
    const set = fx.sets[0];
    const [primary = '', grown = ''] = set?.volumeIds ?? [];
    await fx.cloud
      .clients()
      .ec2.send(
        new CreateTagsCommand({ Resources: [grown], Tags: [{ Key: 'berth:grow-state', Value: 'pending' }] }),
      );
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess: only the filesystem's members move and are handed to the host; the grown volume that
    // never joined stays behind, attached nowhere, for the reconciler to delete
    expect(outcome).toMatchObject({ result: 'node', nodeId: set?.nodeId });
    expect(fx.attachedVolumes(instanceId)).toEqual([primary]);
    expect(fx.cloud.ec2.volume(grown)?.state).toBe('available');
    const prepare = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    expect(prepare[0]?.parameters.VolumeIds).toBe(primary);
    expect((prepare[0]?.parameters.DeviceNames ?? '').split(',')).toHaveLength(1);
  });
});

describe('launch handler under load and faults', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => {
    restore();
    jest.restoreAllMocks();
  });

  function setup(options: ConstructorParameters<typeof CloudFixture>[0] = {}): CloudFixture {
    fx = new CloudFixture(options);
    restore = fx.plugHandlers();
    return fx;
  }

  /** Every instance holds exactly one whole set, no set is held twice. */
  function expectOneSetEach(instanceIds: string[]): void {
    const seen = new Set<string>();
    for (const id of instanceIds) {
      const nodeId = fx.cloud.ec2.instance(id)?.tags.NodeID ?? '';
      const set = fx.sets.find((s) => s.nodeId === nodeId);
      expect(set).toBeDefined();
      expect(seen.has(nodeId)).toBe(false);
      seen.add(nodeId);
      expect(fx.attachedVolumes(id)).toEqual([...(set?.volumeIds ?? [])].sort());
    }
  }

  it('gives 100 simultaneous launches 100 distinct sets with about one attempt each', async () => {
    // Prepare
    setup({ sets: 100 });
    const ids = fx.launch(100);
    const events = fx.launchEvents();
    // Act
    const outcomes = await Promise.all(events.map((e) => handler(e)));
    // Assess
    expect(outcomes.every((o) => o.result === 'node')).toBe(true);
    expectOneSetEach(ids);
    const attempts = outcomes.reduce((n, o) => n + ('attempts' in o ? o.attempts : 0), 0);
    expect(attempts / 100).toBeLessThanOrEqual(1.5);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
    expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
  }, 60_000);

  it('treats a duplicated event as done, attaching and preparing nothing twice', async () => {
    // Prepare
    setup({ sets: 2 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    await handler(event);
    const attaches = fx.cloud.accounting.count('ec2:AttachVolume');
    // Act
    const again = await handler(structuredClone(event));
    // Assess
    expect(again).toMatchObject({ result: 'duplicate', lifecycleState: 'InService' });
    expect(fx.cloud.accounting.count('ec2:AttachVolume')).toBe(attaches);
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')).toHaveLength(1);
    expectOneSetEach([instanceId]);
  });

  it('keeps one set when a duplicated event is delivered twice at the same moment', async () => {
    // Prepare
    setup({ sets: 3 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    // Act
    const outcomes = await Promise.all(
      [handler(event), handler(structuredClone(event))].map((run) =>
        run.then(
          (o) => o.result,
          (error: unknown) => String(error),
        ),
      ),
    );
    // Assess: the run that attached the primary first makes the node; the other stands down (its
    // retry finds the node ready)
    expect(outcomes[0]).toBe('node');
    expect(outcomes[1]).toMatch(/another run of this launch/);
    expectOneSetEach([instanceId]);
    const held = fx.cloud.ec2.volumes().filter((v) => v.attachments.length > 0 && v.tags.NodeID);
    expect(held).toHaveLength(1);
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
  });

  it('ends in the clean state when killed after any AWS call and run again', async () => {
    // Prepare: how many calls a clean launch makes
    setup({ sets: 3, volumesPerSet: 2 });
    const [cleanId = ''] = fx.launch(1);
    await handler(fx.takeEvent(LAUNCH_EVENT, cleanId));
    const calls = fx.cloud.accounting.count();
    restore();
    expect(calls).toBeGreaterThan(10);
    for (let n = 1; n <= calls; n++) {
      setup({ sets: 3, volumesPerSet: 2 });
      const [instanceId = ''] = fx.launch(1);
      const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
      fx.cloud.faults.killAfter(n);
      // Act
      await handler(event).catch(() => undefined);
      fx.cloud.faults.revive();
      const outcome = await handler(event);
      // Assess
      expect(['node', 'duplicate']).toContain(outcome.result);
      expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
      expectOneSetEach([instanceId]);
      expect(fx.cloud.ec2.volumes().filter((v) => v.attachments.length > 0 && v.tags.NodeID).length).toBe(2);
      restore();
    }
    setup({ sets: 1 }); // afterEach restores this one
  }, 120_000);

  it('gives every instance a set with 30 % of calls throttled', async () => {
    // Prepare
    setup({ sets: 10, volumesPerSet: 2, seed: 7 });
    const ids = fx.launch(10);
    const events = fx.launchEvents();
    fx.cloud.faults.throttleRate = 0.3;
    // Act
    const outcomes = await Promise.all(events.map((e) => handler(e)));
    // Assess
    fx.cloud.faults.throttleRate = 0;
    expect(outcomes.map((o) => ('reason' in o ? o.reason : o.result))).toEqual(Array(10).fill('node'));
    expectOneSetEach(ids);
    expect(fx.cloud.accounting.snapshot()).toBeDefined();
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  }, 60_000);

  it('continues as a spare when no set is free (whenNoSetFree: spare)', async () => {
    // Prepare
    setup({ sets: 0 });
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'spare' });
    expect(['Pending:Proceed', 'InService']).toContain(fx.cloud.autoscaling.lifecycleState(instanceId));
  });

  it('abandons the instance when no set is free (whenNoSetFree: abandon)', async () => {
    // Prepare
    setup({ sets: 0, settings: { whenNoSetFree: 'abandon' } });
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'abandoned', reason: 'no free node set' });
    const action = fx.cloud.autoscaling.lifecycleActions().find((a) => a.instanceId === instanceId);
    expect(action?.result).toBe('ABANDON');
  });

  it('undoes its attachments and abandons when the ENI cannot be attached', async () => {
    // Prepare
    setup({ sets: 1, volumesPerSet: 2 });
    const [instanceId = ''] = fx.launch(1);
    fx.cloud.faults.failNext('AttachNetworkInterface', 'InvalidParameterCombination');
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'abandoned' });
    for (const volumeId of fx.sets[0]?.volumeIds ?? [])
      expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('available');
    const action = fx.cloud.autoscaling.lifecycleActions().find((a) => a.instanceId === instanceId);
    expect(action?.result).toBe('ABANDON');
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('abandons without detaching anything when prepare-node fails (the volumes may be mounted)', async () => {
    // Prepare
    setup({ sets: 1 });
    const [instanceId = ''] = fx.launch(1);
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      exitCode: 1,
      stdout: '{"ok":false,"action":"prepare-node","error":"mkfs failed"}\n',
    });
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.attachedVolumes(instanceId)).toEqual(fx.sets[0]?.volumeIds);
    const action = fx.cloud.autoscaling.lifecycleActions().find((a) => a.instanceId === instanceId);
    expect(action?.result).toBe('ABANDON');
  });

  it('throws (so the invocation is retried) when even ABANDON cannot be recorded', async () => {
    // Prepare: prepare-node fails, then CompleteLifecycleAction is refused once
    setup({ sets: 1 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      exitCode: 1,
      stdout: '{"ok":false,"action":"prepare-node"}\n',
    });
    fx.cloud.faults.failNext('CompleteLifecycleAction', 'AccessDenied', { status: 403 });
    // Act
    const run = handler(event);
    // Assess: the error surfaces; the retried invocation then completes the action
    await expect(run).rejects.toThrow('CompleteLifecycleAction ABANDON');
    fx.cloud.ssm.recorder.reset();
    const retried = await handler(event);
    expect(retried).toMatchObject({ result: 'node' });
    expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('resumes a launch whose undo died half-way (primary still detaching)', async () => {
    // Prepare: the primary was attached, then a dying undo started to detach it
    setup({ sets: 1 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    await fx.cloud.clock.sleep(25_000); // running
    const volumeId = fx.sets[0]?.volumeIds[0] ?? '';
    await fx.clients.ec2.send(
      new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: '/dev/sdf' }),
    );
    await fx.cloud.clock.sleep(5_000);
    await fx.clients.ec2.send(new DetachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId }));
    // Act
    const outcome = await handler(event);
    // Assess
    expect(outcome).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId, resumed: true });
    expect(fx.cloud.ec2.volume(volumeId)?.attachments[0]).toMatchObject({ instanceId, state: 'attached' });
  });

  it('keeps the lifecycle action alive with heartbeats during a long prepare-node', async () => {
    // Prepare: prepare-node takes 12 minutes (the longest a host step may take is 13), the hook's
    // heartbeat timeout is 2
    setup({ sets: 1, heartbeatTimeout: 120, settings: { timeouts: { commandSeconds: 780 } } });
    fx.cloud.ssm.recorder.durationMs = 12 * 60_000;
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'node' });
    expect(fx.cloud.accounting.count('autoscaling:RecordLifecycleActionHeartbeat')).toBeGreaterThanOrEqual(5);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('rejects a malformed event without throwing and without calling AWS', async () => {
    // Prepare
    setup({ sets: 1 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    const broken = { ...event, detail: { ...event.detail, EC2InstanceId: 'not-an-instance' } };
    fx.cloud.accounting.reset();
    // Act
    const outcome = await handler(broken);
    // Assess
    expect(outcome).toMatchObject({ result: 'rejected' });
    expect((outcome as { reason: string }).reason).toContain('detail.EC2InstanceId');
    expect(fx.cloud.accounting.count()).toBe(0);
  });

  it('does nothing for an instance that vanished before its event was handled', async () => {
    // Prepare
    setup({ sets: 1 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    fx.cloud.ec2.terminateInstance(instanceId);
    // Act
    const outcome = await handler(event);
    // Assess
    expect(outcome).toMatchObject({ result: 'vanished' });
    expect(fx.cloud.accounting.count('ec2:AttachVolume')).toBe(0);
    expect(fx.cloud.ec2.volume(fx.sets[0]?.volumeIds[0] ?? '')?.state).toBe('available');
  });
});

describe('launch handler with bad data', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => {
    restore();
    jest.restoreAllMocks();
  });

  const cases: [string, (fx: CloudFixture) => void, string][] = [
    ['two ENIs with one NodeID', (f) => f.seedSet({ enis: 2 }), 'more than one network interface'],
    [
      'two primary volumes with one NodeID',
      (f) => f.seedSet({ volumes: 2, ordinals: [0, 0] }),
      'more than one primary',
    ],
    [
      'a set split across Availability Zones',
      (f) => f.seedSet({ volumes: 2, volumeAzs: ['eu-west-1a', 'eu-west-1b'] }),
      'split across Availability Zones',
    ],
    ['volumes but no ENI', (f) => f.seedSet({ enis: 0 }), 'volumes but no network interface'],
  ];

  it.each(cases)(
    'skips %s, logs the ids and the fix, and attaches nothing of it',
    async (_name, seed, text) => {
      // Prepare: only the bad set exists
      fx = new CloudFixture({ sets: 0, azs: ['eu-west-1a', 'eu-west-1b'] });
      restore = fx.plugHandlers();
      seed(fx);
      const bad = fx.sets[0];
      const errors: unknown[][] = [];
      jest.spyOn(Logger.prototype, 'error').mockImplementation((...args: unknown[]) => {
        errors.push(args);
      });
      const [instanceId = ''] = fx.launch(1);
      // Act
      const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
      // Assess
      expect(outcome).toMatchObject({ result: 'spare' });
      expect(fx.cloud.accounting.count('ec2:AttachVolume')).toBe(0);
      const logged = errors.find((e) => e[0] === 'node set skipped: bad data')?.[1] as Record<
        string,
        unknown
      >;
      expect(logged).toMatchObject({ nodeId: bad?.nodeId });
      expect(String(logged.problem)).toContain(text);
      expect(String(logged.fix).length).toBeGreaterThan(10);
      expect(logged.volumeIds).toEqual(expect.arrayContaining(bad?.volumeIds ?? []));
    },
  );

  it('claims a good set next to a bad one', async () => {
    // Prepare
    fx = new CloudFixture({ sets: 0 });
    restore = fx.plugHandlers();
    fx.seedSet({ enis: 2 });
    const good = fx.seedSet();
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'node', nodeId: good.nodeId });
  });
});

describe('launch handler across zones', () => {
  it('claims only a set in the instance’s own Availability Zone', async () => {
    // Prepare: one set per AZ, one instance; the group spreads instances over both AZs
    const fx = new CloudFixture({ sets: 2, azs: ['eu-west-1a', 'eu-west-1b'] });
    const restore = fx.plugHandlers();
    try {
      const [instanceId = ''] = fx.launch(1);
      const az = fx.cloud.ec2.instance(instanceId)?.availabilityZone;
      // Act
      const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId));
      // Assess
      const mine = fx.sets.find((s) => s.availabilityZone === az);
      expect(outcome).toMatchObject({ result: 'node', nodeId: mine?.nodeId });
      const other = fx.sets.find((s) => s.availabilityZone !== az);
      expect(fx.cloud.ec2.volume(other?.volumeIds[0] ?? '')?.state).toBe('available');
    } finally {
      restore();
    }
  });
});
