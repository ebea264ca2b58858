import {
  AutoScalingServiceException,
  CompleteLifecycleActionCommand,
  DeleteLifecycleHookCommand,
  DescribeAutoScalingGroupsCommand,
  DescribeAutoScalingInstancesCommand,
  DescribeLifecycleHooksCommand,
  PutLifecycleHookCommand,
  RecordLifecycleActionHeartbeatCommand,
  SetDesiredCapacityCommand,
  SetInstanceHealthCommand,
  TerminateInstanceInAutoScalingGroupCommand,
  type AutoScalingClient,
} from '@aws-sdk/client-auto-scaling';
import { DescribeInstancesCommand } from '@aws-sdk/client-ec2';
import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import type { HookOptions } from '../src/autoscaling';
import { HandlerKilled, LocalCloud, type BusEvent } from '../src/index';

const GROUP = 'berth-etcd';
const LAUNCH_HOOK = 'berth-launch';
const TERMINATE_HOOK = 'berth-terminate';
const AZS = ['eu-west-1a', 'eu-west-1b'];

interface LifecycleDetail {
  LifecycleActionToken: string;
  AutoScalingGroupName: string;
  LifecycleHookName: string;
  EC2InstanceId: string;
  LifecycleTransition: string;
  NotificationMetadata?: string;
  Origin: string;
  Destination: string;
}

function setup(
  options: {
    desired?: number;
    hooks?: HookOptions[];
    launchHook?: Partial<HookOptions>;
    terminateHook?: Partial<HookOptions> | null;
  } = {},
) {
  const cloud = new LocalCloud();
  const clients = cloud.clients({ retryDelayMs: 0 });
  const { subnets } = cloud.ec2.seedNetwork({ azs: AZS });
  const hooks: HookOptions[] = options.hooks ?? [
    {
      name: LAUNCH_HOOK,
      transition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      heartbeatTimeout: 300,
      defaultResult: 'ABANDON',
      notificationMetadata: '{"group":"etcd"}',
      ...options.launchHook,
    },
    ...(options.terminateHook === null
      ? []
      : [
          {
            name: TERMINATE_HOOK,
            transition: 'autoscaling:EC2_INSTANCE_TERMINATING' as const,
            heartbeatTimeout: 300,
            defaultResult: 'CONTINUE' as const,
            ...options.terminateHook,
          },
        ]),
  ];
  cloud.autoscaling.createGroup({
    name: GROUP,
    subnetIds: AZS.map((az) => subnets[az]!),
    desired: options.desired ?? 1,
    max: 6,
    tags: { Service: 'etcd' },
    hooks,
  });
  return { cloud, ...clients };
}

function lifecycleEvents(cloud: LocalCloud, kind: 'launch' | 'terminate'): BusEvent<LifecycleDetail>[] {
  return cloud.events.drain(
    `EC2 Instance-${kind} Lifecycle Action`,
  ) as unknown as BusEvent<LifecycleDetail>[];
}

async function stateOf(autoScaling: AutoScalingClient, instanceId: string): Promise<string | undefined> {
  const out = await autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }));
  return out.AutoScalingInstances?.[0]?.LifecycleState;
}

function complete(
  autoScaling: AutoScalingClient,
  detail: LifecycleDetail,
  result: 'CONTINUE' | 'ABANDON' = 'CONTINUE',
) {
  return autoScaling.send(
    new CompleteLifecycleActionCommand({
      AutoScalingGroupName: detail.AutoScalingGroupName,
      LifecycleHookName: detail.LifecycleHookName,
      LifecycleActionToken: detail.LifecycleActionToken,
      LifecycleActionResult: result,
    }),
  );
}

describe('the local Auto Scaling: launches', () => {
  it('puts a launched instance in Pending:Wait and emits the launch lifecycle event in AWS shape', async () => {
    // Prepare
    const { cloud, autoScaling, ec2 } = setup({ desired: 0 });
    // Act
    const [instanceId] = cloud.autoscaling.launchInstances(GROUP, 1);
    const events = lifecycleEvents(cloud, 'launch');
    const state = await stateOf(autoScaling, instanceId!);
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId!] }));
    // Assess
    expect(state).toBe('Pending:Wait');
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event).toMatchObject({
      version: '0',
      'detail-type': 'EC2 Instance-launch Lifecycle Action',
      source: 'aws.autoscaling',
      account: '111111111111',
      region: 'eu-west-1',
      resources: [
        expect.stringMatching(
          /^arn:aws:autoscaling:eu-west-1:111111111111:autoScalingGroup:[0-9a-f-]{36}:autoScalingGroupName\/berth-etcd$/,
        ),
      ],
    });
    expect(event.detail).toEqual({
      LifecycleActionToken: expect.stringMatching(
        /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
      ),
      AutoScalingGroupName: GROUP,
      LifecycleHookName: LAUNCH_HOOK,
      EC2InstanceId: instanceId,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
      NotificationMetadata: '{"group":"etcd"}',
      Origin: 'EC2',
      Destination: 'AutoScalingGroup',
    });
    const tags = described.Reservations?.[0]?.Instances?.[0]?.Tags ?? [];
    expect(tags).toEqual(
      expect.arrayContaining([
        { Key: 'aws:autoscaling:groupName', Value: GROUP },
        { Key: 'Service', Value: 'etcd' },
      ]),
    );
  });

  it('leaves NotificationMetadata out of the event when the hook has none', async () => {
    const { cloud } = setup({ desired: 1, launchHook: { notificationMetadata: undefined } });
    const [event] = lifecycleEvents(cloud, 'launch');
    expect(Object.keys(event!.detail)).not.toContain('NotificationMetadata');
  });

  it('moves the instance to InService after CompleteLifecycleAction CONTINUE once EC2 runs it', async () => {
    // Prepare
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    const instanceId = event!.detail.EC2InstanceId;
    // Act
    await complete(autoScaling, event!.detail);
    const beforeBoot = await stateOf(autoScaling, instanceId);
    cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
    const afterBoot = await stateOf(autoScaling, instanceId);
    // Assess
    expect(beforeBoot).toBe('Pending:Proceed');
    expect(afterBoot).toBe('InService');
    expect(cloud.autoscaling.pendingActions()).toEqual([]);
  });

  it('accepts the instance id instead of the token', async () => {
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
    await autoScaling.send(
      new CompleteLifecycleActionCommand({
        AutoScalingGroupName: GROUP,
        LifecycleHookName: LAUNCH_HOOK,
        InstanceId: event!.detail.EC2InstanceId,
        LifecycleActionResult: 'CONTINUE',
      }),
    );
    expect(await stateOf(autoScaling, event!.detail.EC2InstanceId)).toBe('InService');
  });

  it('rejects a wrong token, and a token already used, with ValidationError "No active Lifecycle Action found with token"', async () => {
    // Prepare
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    const wrong = { ...event!.detail, LifecycleActionToken: '00000000-0000-4000-8000-000000000000' };
    // Act
    const wrongError = await complete(autoScaling, wrong).catch((e: unknown) => e);
    await complete(autoScaling, event!.detail);
    const usedError = await complete(autoScaling, event!.detail).catch((e: unknown) => e);
    const heartbeatError = await autoScaling
      .send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: GROUP,
          LifecycleHookName: LAUNCH_HOOK,
          LifecycleActionToken: event!.detail.LifecycleActionToken,
        }),
      )
      .catch((e: unknown) => e);
    // Assess
    for (const error of [wrongError, usedError, heartbeatError]) {
      expect(error).toBeInstanceOf(AutoScalingServiceException);
      expect((error as Error).name).toBe('ValidationError');
    }
    expect((wrongError as Error).message).toBe(
      'No active Lifecycle Action found with token 00000000-0000-4000-8000-000000000000',
    );
    expect((usedError as Error).message).toBe(
      `No active Lifecycle Action found with token ${event!.detail.LifecycleActionToken}`,
    );
  });

  it('terminates and replaces an instance whose launch is abandoned', async () => {
    // Prepare
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    const first = event!.detail.EC2InstanceId;
    // Act
    await complete(autoScaling, event!.detail, 'ABANDON');
    const replacementEvents = lifecycleEvents(cloud, 'launch');
    const terminateEvents = lifecycleEvents(cloud, 'terminate');
    // Assess
    expect(cloud.ec2.instance(first)?.state).toBe('shutting-down');
    expect(terminateEvents).toEqual([]); // an abandoned launch does not run terminate hooks
    expect(replacementEvents).toHaveLength(1);
    expect(replacementEvents[0]!.detail.EC2InstanceId).not.toBe(first);
    expect(cloud.autoscaling.instanceIds(GROUP)).toEqual([first, replacementEvents[0]!.detail.EC2InstanceId]);
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
    expect(await stateOf(autoScaling, first)).toBeUndefined();
  });

  it('spreads instances over the AZs and pages DescribeAutoScalingInstances', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ desired: 5 });
    // Act
    const seen: { id: string; az: string; health: string }[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const out = await autoScaling.send(
        new DescribeAutoScalingInstancesCommand({ MaxRecords: 2, NextToken: token }),
      );
      pages++;
      for (const i of out.AutoScalingInstances ?? []) {
        seen.push({ id: i.InstanceId ?? '', az: i.AvailabilityZone ?? '', health: i.HealthStatus ?? '' });
      }
      token = out.NextToken;
    } while (token);
    // Assess
    expect(pages).toBe(3);
    expect(seen.map((s) => s.id).sort()).toEqual(cloud.autoscaling.instanceIds(GROUP).sort());
    expect(seen.filter((s) => s.az === 'eu-west-1a')).toHaveLength(3);
    expect(seen.filter((s) => s.az === 'eu-west-1b')).toHaveLength(2);
    expect(new Set(seen.map((s) => s.health))).toEqual(new Set(['HEALTHY']));
  });

  it('describes groups with their instances, sizes and tags, and filters them by tag', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ desired: 2 });
    // Act
    const byName = await autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }),
    );
    const byTag = await autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ Filters: [{ Name: 'tag:Service', Values: ['etcd'] }] }),
    );
    const byOtherTag = await autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ Filters: [{ Name: 'tag-key', Values: ['Team'] }] }),
    );
    // Assess
    const group = byName.AutoScalingGroups?.[0];
    expect(group).toMatchObject({
      AutoScalingGroupName: GROUP,
      MinSize: 0,
      MaxSize: 6,
      DesiredCapacity: 2,
      AvailabilityZones: AZS,
      Tags: [expect.objectContaining({ Key: 'Service', Value: 'etcd', PropagateAtLaunch: true })],
    });
    expect(group?.Instances?.map((i) => [i.InstanceId, i.LifecycleState, i.HealthStatus])).toEqual(
      cloud.autoscaling.instanceIds(GROUP).map((id) => [id, 'Pending:Wait', 'Healthy']),
    );
    expect(byTag.AutoScalingGroups?.map((g) => g.AutoScalingGroupName)).toEqual([GROUP]);
    expect(byOtherTag.AutoScalingGroups).toEqual([]);
  });
});

describe('the local Auto Scaling: heartbeats and timeouts', () => {
  it('applies the default result when the heartbeat timeout expires, and records it', async () => {
    // Prepare: launch hook times out after 300 s with ABANDON
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    const first = event!.detail.EC2InstanceId;
    // Act
    cloud.clock.advance(299_000);
    const before = cloud.autoscaling.timedOutActions();
    cloud.clock.advance(1_000);
    const after = cloud.autoscaling.timedOutActions();
    const replacement = lifecycleEvents(cloud, 'launch');
    // Assess
    expect(before).toEqual([]);
    expect(after).toEqual([
      {
        instanceId: first,
        hook: LAUNCH_HOOK,
        transition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        result: 'ABANDON',
        at: Date.parse('2026-11-21T00:05:00Z'),
      },
    ]);
    expect(cloud.ec2.instance(first)?.state).toBe('shutting-down');
    expect(replacement).toHaveLength(1);
    const late = await complete(autoScaling, event!.detail).catch((e: unknown) => e);
    expect((late as Error).name).toBe('ValidationError');
  });

  it('extends the wait by the heartbeat timeout on RecordLifecycleActionHeartbeat', async () => {
    // Prepare
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    const heartbeat = () =>
      autoScaling.send(
        new RecordLifecycleActionHeartbeatCommand({
          AutoScalingGroupName: GROUP,
          LifecycleHookName: LAUNCH_HOOK,
          LifecycleActionToken: event!.detail.LifecycleActionToken,
        }),
      );
    // Act
    cloud.clock.advance(250_000);
    await heartbeat();
    cloud.clock.advance(250_000); // 500 s after the start: past the first timeout, within the second
    const pending = cloud.autoscaling.pendingActions();
    cloud.clock.advance(50_000); // 300 s after the heartbeat
    const timedOut = cloud.autoscaling.timedOutActions();
    // Assess
    expect(pending.map((a) => a.instanceId)).toContain(event!.detail.EC2InstanceId);
    expect(timedOut.map((a) => a.instanceId)).toEqual([event!.detail.EC2InstanceId]);
  });

  it('caps the total wait at 100 × the heartbeat timeout whatever the heartbeats', async () => {
    // Prepare: 30 s heartbeat timeout → 3000 s global timeout
    const { cloud, autoScaling } = setup({ launchHook: { heartbeatTimeout: 30, defaultResult: 'CONTINUE' } });
    const [event] = lifecycleEvents(cloud, 'launch');
    // Act: a heartbeat every 20 s, for longer than the global timeout
    let refused: unknown;
    for (let t = 20; t <= 3100 && !refused; t += 20) {
      cloud.clock.advance(20_000);
      refused = await autoScaling
        .send(
          new RecordLifecycleActionHeartbeatCommand({
            AutoScalingGroupName: GROUP,
            LifecycleHookName: LAUNCH_HOOK,
            InstanceId: event!.detail.EC2InstanceId,
          }),
        )
        .then(
          () => undefined,
          (e: unknown) => e,
        );
    }
    // Assess
    expect((refused as Error).message).toBe(
      `No active Lifecycle Action found with instance ID ${event!.detail.EC2InstanceId}`,
    );
    expect(cloud.autoscaling.timedOutActions()).toEqual([
      expect.objectContaining({ result: 'CONTINUE', at: Date.parse('2026-11-21T00:50:00Z') }),
    ]);
    expect(await stateOf(autoScaling, event!.detail.EC2InstanceId)).toBe('InService');
  });

  it('describes hooks put through the API with their global timeout, and validates the heartbeat timeout', async () => {
    // Prepare
    const { autoScaling } = setup({ hooks: [] });
    // Act
    await autoScaling.send(
      new PutLifecycleHookCommand({
        AutoScalingGroupName: GROUP,
        LifecycleHookName: 'api-hook',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 7200,
        DefaultResult: 'CONTINUE',
      }),
    );
    const described = await autoScaling.send(
      new DescribeLifecycleHooksCommand({ AutoScalingGroupName: GROUP }),
    );
    const tooShort = await autoScaling
      .send(
        new PutLifecycleHookCommand({
          AutoScalingGroupName: GROUP,
          LifecycleHookName: 'short',
          LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          HeartbeatTimeout: 10,
        }),
      )
      .catch((e: unknown) => e);
    // Assess
    expect(described.LifecycleHooks).toEqual([
      {
        LifecycleHookName: 'api-hook',
        AutoScalingGroupName: GROUP,
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        HeartbeatTimeout: 7200,
        GlobalTimeout: 172800,
        DefaultResult: 'CONTINUE',
      },
    ]);
    expect((tooShort as Error).name).toBe('ValidationError');
  });
});

describe('the local Auto Scaling: deleting a hook', () => {
  it('abandons the launches still waiting on a deleted launch hook, and launches without it', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ terminateHook: null });
    const [event] = lifecycleEvents(cloud, 'launch');
    // Act
    await autoScaling.send(
      new DeleteLifecycleHookCommand({ AutoScalingGroupName: GROUP, LifecycleHookName: LAUNCH_HOOK }),
    );
    cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
    // Assess
    const first = event!.detail.EC2InstanceId;
    expect(cloud.ec2.instance(first)?.state).toBe('shutting-down');
    expect(
      cloud.autoscaling.groupInstances(GROUP).map((i) => [i.instanceId === first, i.lifecycleState]),
    ).toEqual([
      [true, 'Terminating:Proceed'],
      [false, 'InService'],
    ]);
    expect(lifecycleEvents(cloud, 'launch')).toEqual([]);
  });
});

describe('the local Auto Scaling: terminations', () => {
  async function inService(cloud: LocalCloud, autoScaling: AutoScalingClient): Promise<string[]> {
    for (const event of lifecycleEvents(cloud, 'launch')) await complete(autoScaling, event.detail);
    cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
    return cloud.autoscaling.instanceIds(GROUP);
  }

  it('waits in Terminating:Wait with the terminate event, replaces the instance, and terminates it on CONTINUE', async () => {
    // Prepare
    const { cloud, autoScaling } = setup();
    const [old] = await inService(cloud, autoScaling);
    // Act
    cloud.autoscaling.terminateInstance(old!);
    const [event] = lifecycleEvents(cloud, 'terminate');
    const replacement = lifecycleEvents(cloud, 'launch');
    const waiting = await stateOf(autoScaling, old!);
    const ec2WhileWaiting = cloud.ec2.instance(old!)?.state;
    await complete(autoScaling, event!.detail);
    const proceeding = await stateOf(autoScaling, old!);
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
    const gone = await stateOf(autoScaling, old!);
    // Assess
    expect(waiting).toBe('Terminating:Wait');
    expect(ec2WhileWaiting).toBe('running');
    expect(event!.detail).toEqual({
      LifecycleActionToken: expect.any(String),
      AutoScalingGroupName: GROUP,
      LifecycleHookName: TERMINATE_HOOK,
      EC2InstanceId: old,
      LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
      Origin: 'AutoScalingGroup',
      Destination: 'EC2',
    });
    expect(event!['detail-type']).toBe('EC2 Instance-terminate Lifecycle Action');
    expect(replacement).toHaveLength(1);
    expect(proceeding).toBe('Terminating:Proceed');
    expect(gone).toBeUndefined();
    expect(cloud.ec2.instance(old!)?.state).toBe('terminated');
    expect(cloud.autoscaling.instanceIds(GROUP)).toEqual([replacement[0]!.detail.EC2InstanceId]);
  });

  it('can be set to launch the replacement only once the old instance is gone', async () => {
    // Prepare
    const { cloud, autoScaling } = setup();
    cloud.autoscaling.replaceWhen = 'terminated';
    const [old] = await inService(cloud, autoScaling);
    // Act
    cloud.autoscaling.terminateInstance(old!);
    const [event] = lifecycleEvents(cloud, 'terminate');
    const whileWaiting = lifecycleEvents(cloud, 'launch');
    await complete(autoScaling, event!.detail);
    cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
    const afterTermination = lifecycleEvents(cloud, 'launch');
    // Assess
    expect(whileWaiting).toEqual([]);
    expect(afterTermination).toHaveLength(1);
  });

  it('does not replace an instance terminated with ShouldDecrementDesiredCapacity', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ desired: 2 });
    const [first] = await inService(cloud, autoScaling);
    // Act
    const out = await autoScaling.send(
      new TerminateInstanceInAutoScalingGroupCommand({
        InstanceId: first,
        ShouldDecrementDesiredCapacity: true,
      }),
    );
    // Assess
    expect(out.Activity?.StatusCode).toBe('InProgress');
    expect(lifecycleEvents(cloud, 'terminate')).toHaveLength(1);
    expect(lifecycleEvents(cloud, 'launch')).toEqual([]);
    expect(cloud.autoscaling.desiredCapacity(GROUP)).toBe(1);
  });

  it('terminates through the default result (CONTINUE) when nobody completes the terminate action', async () => {
    const { cloud, autoScaling, ec2 } = setup();
    const [old] = await inService(cloud, autoScaling);
    cloud.autoscaling.terminateInstance(old!, { decrementCapacity: true });
    cloud.clock.advance(300_000);
    const described = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [old!] }));
    expect(described.Reservations?.[0]?.Instances?.[0]?.State?.Name).toBe('shutting-down');
    expect(cloud.autoscaling.timedOutActions()).toEqual([
      expect.objectContaining({
        instanceId: old,
        transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        result: 'CONTINUE',
      }),
    ]);
  });

  it('scales in with SetDesiredCapacity through the terminate hook, and checks MaxSize', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ desired: 3 });
    await inService(cloud, autoScaling);
    // Act
    await autoScaling.send(
      new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 1 }),
    );
    const tooMany = await autoScaling
      .send(new SetDesiredCapacityCommand({ AutoScalingGroupName: GROUP, DesiredCapacity: 7 }))
      .catch((e: unknown) => e);
    // Assess
    expect(lifecycleEvents(cloud, 'terminate')).toHaveLength(2);
    expect((tooMany as Error).message).toBe(
      'New SetDesiredCapacity value 7 is above max value 6 for the AutoScalingGroup.',
    );
  });

  it('replaces an instance set Unhealthy, and one that EC2 terminated behind its back', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ desired: 2, terminateHook: null });
    const [a, b] = await inService(cloud, autoScaling);
    // Act
    await autoScaling.send(new SetInstanceHealthCommand({ InstanceId: a, HealthStatus: 'Unhealthy' }));
    cloud.ec2.terminateInstance(b!);
    const launches = lifecycleEvents(cloud, 'launch');
    // Assess
    expect(launches).toHaveLength(2);
    expect(cloud.autoscaling.instanceIds(GROUP)).toEqual(
      expect.arrayContaining(launches.map((e) => e.detail.EC2InstanceId)),
    );
  });
});

describe('faults and accounting through the real clients', () => {
  it('lets the SDK retry throttling injected at a rate, and counts every attempt', async () => {
    // Prepare
    const { cloud, autoScaling } = setup({ desired: 1 });
    cloud.faults.throttleRate = 0.5;
    cloud.accounting.reset();
    // Act
    let failures = 0;
    for (let i = 0; i < 20; i++) {
      await autoScaling
        .send(new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [GROUP] }))
        .catch(() => {
          failures++;
        });
    }
    // Assess: more attempts than calls; the SDK's retries absorbed most throttles
    const attempts = cloud.accounting.count('autoscaling:DescribeAutoScalingGroups');
    expect(attempts).toBeGreaterThan(20);
    expect(failures).toBeLessThan(20 - 10);
  });

  it('fails one named call once (no effect), then answers normally', async () => {
    const { cloud, autoScaling } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    cloud.faults.failNext('CompleteLifecycleAction', 'ResourceContentionFault', { status: 500 });
    const { autoScaling: noRetry } = cloud.clients({ maxAttempts: 1 });
    const first = await complete(noRetry, event!.detail).catch((e: unknown) => e);
    const state = await stateOf(autoScaling, event!.detail.EC2InstanceId);
    await complete(autoScaling, event!.detail);
    expect((first as Error).name).toBe('ResourceContentionFault');
    expect(state).toBe('Pending:Wait');
    expect(cloud.autoscaling.pendingActions()).toEqual([]);
  });

  it('loses the answer of a call that took effect (error after effect): the retry finds no active action', async () => {
    // Prepare
    const { cloud } = setup();
    const [event] = lifecycleEvents(cloud, 'launch');
    const { autoScaling } = cloud.clients({ maxAttempts: 1 });
    cloud.faults.failNext('CompleteLifecycleAction', 'InternalFailure', { status: 500, when: 'after' });
    // Act
    const lost = await complete(autoScaling, event!.detail).catch((e: unknown) => e);
    const retry = await complete(autoScaling, event!.detail).catch((e: unknown) => e);
    // Assess
    expect((lost as Error).name).toBe('InternalFailure');
    expect((retry as Error).message).toMatch(/^No active Lifecycle Action found with token/);
    expect(cloud.autoscaling.pendingActions()).toEqual([]);
  });

  it('kills the handler after N calls took effect', async () => {
    const { cloud, autoScaling, cloudWatch } = setup({ desired: 2 });
    const events = lifecycleEvents(cloud, 'launch');
    cloud.faults.killAfter(1);
    const first = await complete(autoScaling, events[0]!.detail).catch((e: unknown) => e);
    const second = await cloudWatch.send(new DescribeAlarmsCommand({})).catch((e: unknown) => e);
    expect(first).toBeInstanceOf(HandlerKilled);
    expect(second).toBeInstanceOf(HandlerKilled);
    cloud.faults.revive();
    expect(cloud.autoscaling.pendingActions().map((a) => a.instanceId)).toEqual([
      events[1]!.detail.EC2InstanceId,
    ]);
  });

  it('adds latency in virtual time only', async () => {
    const { cloud, autoScaling } = setup();
    cloud.faults.latencyMs = 250;
    const startVirtual = cloud.clock.now();
    const startReal = Date.now();
    for (let i = 0; i < 4; i++) await autoScaling.send(new DescribeAutoScalingGroupsCommand({}));
    expect(cloud.clock.now() - startVirtual).toBe(1_000);
    expect(Date.now() - startReal).toBeLessThan(1_000);
  });

  it('loses lifecycle events at a given rate (best effort), leaving their actions waiting', async () => {
    // Prepare
    const { cloud } = setup({ desired: 0 });
    cloud.autoscaling.lostEventRate = 0.5;
    // Act
    cloud.autoscaling.launchInstances(GROUP, 20);
    const delivered = lifecycleEvents(cloud, 'launch');
    // Assess
    const lost = cloud.autoscaling.lostEvents;
    expect(lost.length).toBeGreaterThan(0);
    expect(delivered.length).toBeGreaterThan(0);
    expect(lost.length + delivered.length).toBe(20);
    expect(cloud.autoscaling.pendingActions()).toHaveLength(20);
  });

  it('counts calls per operation', async () => {
    const { cloud, autoScaling, cloudWatch } = setup();
    cloud.accounting.reset();
    const [event] = lifecycleEvents(cloud, 'launch');
    await stateOf(autoScaling, event!.detail.EC2InstanceId);
    await stateOf(autoScaling, event!.detail.EC2InstanceId);
    await complete(autoScaling, event!.detail);
    await cloudWatch.send(new DescribeAlarmsCommand({}));
    expect(cloud.accounting.snapshot()).toEqual({
      'autoscaling:CompleteLifecycleAction': 1,
      'autoscaling:DescribeAutoScalingInstances': 2,
      'cloudwatch:DescribeAlarms': 1,
    });
    expect(cloud.accounting.count('autoscaling')).toBe(3);
  });
});
