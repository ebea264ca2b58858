/**
 * Growth scenarios on the shared cloud fixture: a node holding a set (or a scratch instance),
 * its disk alarm, and alarm events as EventBridge delivers them.
 */
import { TAG_PREPARED } from '../../../lambdas/domain/growth-tags';
import { PutMetricDataCommand, SetAlarmStateCommand } from '@aws-sdk/client-cloudwatch';
import { CompleteLifecycleActionCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { ensureAlarm } from '../../../lambdas/aws/alarms';
import { alarmDimensions, alarmName } from '../../../lambdas/shared/alarm-names';
import { attachVolume, volumeAttachedTo, waitForVolume } from '../../../lambdas/aws/attachments';
import type { GroupSettingsInput } from '../../../lambdas/shared/config';
import { provisionScratch } from '../../../lambdas/shared/scratch';
import { CloudFixture, LAUNCH_EVENT, type FixtureOptions } from '../../helpers/cloud-fixture';
import type { BusEvent } from '../../../local-cloud/src';

export const ALARM_EVENT = 'CloudWatch Alarm State Change';

export function growthFixture(
  growth: NonNullable<GroupSettingsInput['growth']> = {},
  options: FixtureOptions & { settings?: Partial<GroupSettingsInput> } = {},
): CloudFixture {
  return new CloudFixture({
    sets: 2,
    ...options,
    settings: { ...(options.settings ?? {}), growth: { cooldownSeconds: 300, ...growth } },
  });
}

/** Launches one group instance, lets it run and completes its launch hook (no berth launch). */
export async function runningInstance(fx: CloudFixture): Promise<string> {
  const [instanceId] = fx.launch(1);
  if (!instanceId) throw new Error('no instance launched');
  const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
  await fx.cloud.clock.sleep(25_000);
  await fx.clients.autoScaling.send(
    new CompleteLifecycleActionCommand({
      AutoScalingGroupName: fx.groupName,
      LifecycleHookName: String(event.detail.LifecycleHookName),
      LifecycleActionToken: String(event.detail.LifecycleActionToken),
      LifecycleActionResult: 'CONTINUE',
      InstanceId: instanceId,
    }),
  );
  return instanceId;
}

/** A running node holding set `setIndex` (its volumes attached at /dev/sdf…), with its alarm. */
export async function nodeWithSet(
  fx: CloudFixture,
  setIndex = 0,
): Promise<{ instanceId: string; nodeId: string }> {
  const instanceId = await runningInstance(fx);
  const set = fx.sets[setIndex];
  if (!set) throw new Error(`no set ${setIndex}`);
  const deps = fx.deps();
  let letter = 'f'.charCodeAt(0);
  for (const volumeId of set.volumeIds) {
    await attachVolume(deps, volumeId, instanceId, `/dev/sd${String.fromCharCode(letter++)}`);
    await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId));
  }
  await fx.clients.ec2.send(
    new CreateTagsCommand({
      Resources: [instanceId],
      // A node: prepare-node succeeded for its set (the mark launch writes with the NodeID).
      Tags: [
        { Key: fx.settings.nodeIdTagKey, Value: set.nodeId },
        { Key: TAG_PREPARED, Value: set.nodeId },
      ],
    }),
  );
  await ensureAlarm(deps, instanceId);
  return { instanceId, nodeId: set.nodeId };
}

/** A running instance with a scratch volume (as the launch path gives a spare), with its alarm. */
export async function scratchInstance(fx: CloudFixture): Promise<{ instanceId: string; volumeId: string }> {
  const instanceId = await runningInstance(fx);
  const deps = fx.deps();
  const scratch = await provisionScratch(deps, instanceId);
  await ensureAlarm(deps, instanceId);
  return { instanceId, volumeId: scratch.volumeId };
}

/** Sets the instance's alarm to ALARM by hand and returns the event EventBridge delivers. */
export async function alarmFires(fx: CloudFixture, instanceId: string): Promise<BusEvent> {
  const name = alarmName(fx.settings, instanceId);
  await fx.clients.cloudWatch.send(
    new SetAlarmStateCommand({ AlarmName: name, StateValue: 'ALARM', StateReason: 'test: disk full' }),
  );
  return takeAlarmEvent(fx, name);
}

export function takeAlarmEvent(fx: CloudFixture, name: string): BusEvent {
  const events = fx.cloud.events.drain(ALARM_EVENT).filter((e) => e.detail.alarmName === name);
  const last = events[events.length - 1];
  if (!last) throw new Error(`no alarm event for ${name}`);
  return last;
}

/** The CloudWatch agent reports disk_used_percent for the instance's mount point. */
export async function reportDiskUsed(fx: CloudFixture, instanceId: string, percent: number): Promise<void> {
  await fx.clients.cloudWatch.send(
    new PutMetricDataCommand({
      Namespace: 'CWAgent',
      MetricData: [
        {
          MetricName: 'disk_used_percent',
          Dimensions: alarmDimensions(fx.settings, instanceId),
          Value: percent,
          Unit: 'Percent',
          Timestamp: new Date(fx.cloud.clock.now()),
        },
      ],
    }),
  );
}

/** Volumes (any state but deleted) created for an instance by growth (not its set's originals). */
export function grownVolumes(fx: CloudFixture, instanceId: string) {
  return fx.cloud.ec2
    .volumes()
    .filter((v) => v.tags['berth:instance'] === instanceId && v.tags['berth:role'] !== 'scratch')
    .filter((v) => v.state !== 'deleted');
}

/** Keeps the handlers' EMF lines out of the test output for the suite, restoring the variable after each test. */
export function withoutMetricsOutput(): void {
  const saved = process.env.POWERTOOLS_METRICS_DISABLED;
  beforeEach(() => {
    process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  });
  afterEach(() => {
    if (saved === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = saved;
  });
}

/**
 * The scaffolding of a handler suite: metrics output off, and the handlers a test plugs into its
 * fixture restored after it. Call once per describe; `plug(fx)` in the test or its setup.
 */
export function handlerSuite(): { plug(fx: CloudFixture): void } {
  let restore: (() => void) | undefined;
  withoutMetricsOutput();
  afterEach(() => {
    restore?.();
    restore = undefined;
  });
  return {
    plug(fx) {
      restore = fx.plugHandlers();
    },
  };
}
