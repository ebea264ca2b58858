/**
 * berth's disk alarms in CloudWatch: create (upsert), re-arm, delete and list the group's alarms.
 * Names, the action and the metric math are domain code (lambdas/shared/alarm-names.ts). Retries
 * are the SDK's (clients.ts); the listing uses the SDK's paginator.
 */
import {
  DeleteAlarmsCommand,
  type MetricAlarm,
  paginateDescribeAlarms,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
  SetAlarmStateCommand,
} from '@aws-sdk/client-cloudwatch';
import {
  AGENT_NAMESPACE,
  ALARMS_PER_PAGE,
  alarmDimensions,
  alarmName,
  alarmNamePrefix,
  DISK_METRIC,
  growActionArn,
  TIME_TO_FULL_EXPRESSION,
  timeToFullAlarmName,
} from '../shared/alarm-names';
import type { Deps } from '../shared/deps';
import { classify, errorName } from '../shared/errors';
import { thresholdFor } from '../domain/growth-policy';
import { countedInFilesystem, TAG_INSTANCE } from '../domain/growth-tags';
import { instanceAlarmPrefix } from '../../infra/event-patterns';
import { findVolumes } from './volumes';

type CwDeps = Pick<Deps, 'cloudWatch' | 'settings' | 'logger'>;

/** One of the group's alarms as the reconciler reads it. */
export interface GroupAlarm {
  name: string;
  /** OK | ALARM | INSUFFICIENT_DATA */
  state: string;
  /** Epoch ms of the last state change (undefined when CloudWatch gave none). */
  stateSince?: number;
}

/**
 * Counts the volumes of the instance's filesystem (its set's, or berth's scratch volumes) to find
 * the threshold the policy gives it: what a replaced node with a grown set starts with.
 */
async function currentThreshold(deps: Pick<Deps, 'ec2' | 'settings'>, instanceId: string) {
  const { settings } = deps;
  const growth = settings.growth;
  if (!growth) return 90;
  const attached = await findVolumes(
    deps,
    [{ name: 'attachment.instance-id', values: [instanceId] }],
    'the alarm threshold',
  );
  const members = attached.filter(
    ({ tags }) =>
      (tags[settings.nodeIdTagKey] !== undefined || tags[settings.ownerTagKey] === settings.groupName) &&
      countedInFilesystem(tags, instanceId),
  );
  return thresholdFor(growth, Math.max(1, members.length));
}

/**
 * PutMetricAlarm with the tags every berth alarm carries (owner group, instance). An upsert that
 * keeps the alarm's state, so calling it again is harmless.
 */
async function putGroupAlarm(
  deps: Pick<Deps, 'cloudWatch' | 'settings'>,
  instanceId: string,
  input: Omit<PutMetricAlarmCommandInput, 'Tags'> & { AlarmName: string },
): Promise<void> {
  const { settings } = deps;
  try {
    await deps.cloudWatch.send(
      new PutMetricAlarmCommand({
        ...input,
        Tags: [
          { Key: settings.ownerTagKey, Value: settings.groupName },
          { Key: TAG_INSTANCE, Value: instanceId },
        ],
      }),
    );
  } catch (error) {
    throw classify(error, `PutMetricAlarm ${input.AlarmName}`);
  }
}

/**
 * Creates (or updates) the instance's disk alarm. Without `thresholdPercent`, the policy's
 * threshold for the volumes the instance holds now. PutMetricAlarm is an upsert that keeps the
 * alarm's state, so calling it again is harmless.
 */
export async function ensureAlarm(
  deps: Pick<Deps, 'cloudWatch' | 'ec2' | 'settings' | 'logger'>,
  instanceId: string,
  thresholdPercent?: number,
): Promise<string> {
  const { settings } = deps;
  const name = alarmName(settings, instanceId);
  const alarm = settings.growth?.alarm ?? { periodSeconds: 60, evaluationPeriods: 2, datapointsToAlarm: 2 };
  const threshold = thresholdPercent ?? (await currentThreshold(deps, instanceId));
  const action = growActionArn();
  await putGroupAlarm(deps, instanceId, {
    AlarmName: name,
    AlarmDescription: `berth: ${settings.mountPoint} of ${instanceId} (group ${settings.groupName}) is ${threshold}% full; its action, the grow function, adds space`,
    Namespace: AGENT_NAMESPACE,
    MetricName: DISK_METRIC,
    Dimensions: alarmDimensions(settings, instanceId),
    Statistic: 'Maximum',
    Period: alarm.periodSeconds,
    EvaluationPeriods: alarm.evaluationPeriods,
    DatapointsToAlarm: alarm.datapointsToAlarm,
    Threshold: threshold,
    ComparisonOperator: 'GreaterThanOrEqualToThreshold',
    // No data (agent not yet reporting, instance gone) must neither grow nor clear.
    TreatMissingData: 'missing',
    // ALARM invokes the grow function; OK and INSUFFICIENT_DATA do nothing.
    ...(action ? { ActionsEnabled: true, AlarmActions: [action] } : { ActionsEnabled: false }),
  });
  deps.logger.info('disk alarm in place', { alarmName: name, thresholdPercent: threshold });
  await ensureTimeToFullAlarm(deps, instanceId);
  return name;
}

/**
 * Predictive growth (settings.growth.timeToFullSeconds): beside the disk alarm, an alarm on the
 * projected time to full, same period and datapoints. Its ALARM event takes the grow handler's
 * alarm path (its name starts like the disk alarm's, so the EventBridge rule matches it). A no-op
 * when predictive growth is off.
 */
export async function ensureTimeToFullAlarm(
  deps: Pick<Deps, 'cloudWatch' | 'settings' | 'logger'>,
  instanceId: string,
): Promise<string | undefined> {
  const { settings } = deps;
  const seconds = settings.growth?.timeToFullSeconds;
  if (!settings.growth || seconds === undefined) return undefined;
  const alarm = settings.growth.alarm;
  const name = timeToFullAlarmName(settings, instanceId);
  await putGroupAlarm(deps, instanceId, {
    AlarmName: name,
    AlarmDescription: `berth: ${settings.mountPoint} of ${instanceId} (group ${settings.groupName}) fills within ${seconds} s at its current rate; the grow Lambda adds space`,
    Metrics: [
      {
        Id: 'm1',
        MetricStat: {
          Metric: {
            Namespace: AGENT_NAMESPACE,
            MetricName: DISK_METRIC,
            Dimensions: alarmDimensions(settings, instanceId),
          },
          Period: alarm.periodSeconds,
          Stat: 'Maximum',
        },
        ReturnData: false,
      },
      { Id: 'e1', Expression: TIME_TO_FULL_EXPRESSION, Label: 'seconds to full', ReturnData: true },
    ],
    EvaluationPeriods: alarm.evaluationPeriods,
    DatapointsToAlarm: alarm.datapointsToAlarm,
    Threshold: seconds,
    ComparisonOperator: 'LessThanThreshold',
    TreatMissingData: 'missing',
    ActionsEnabled: false,
  });
  deps.logger.info('time-to-full alarm in place', { alarmName: name, timeToFullSeconds: seconds });
  return name;
}

/** CloudWatch's answer for an alarm that does not exist (both spellings the SDK surfaces). */
function isAlarmNotFound(error: unknown): boolean {
  return errorName(error) === 'ResourceNotFound' || errorName(error) === 'ResourceNotFoundException';
}

/** Deletes one alarm by name; false when it was already gone (counts as success). */
async function deleteAlarmNamed(deps: CwDeps, name: string): Promise<boolean> {
  try {
    await deps.cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: [name] }));
    return true;
  } catch (error) {
    if (isAlarmNotFound(error)) return false;
    throw classify(error, `DeleteAlarms ${name}`);
  }
}

/** Sets one alarm to OK; false when it does not exist. */
async function setAlarmOk(deps: CwDeps, name: string, reason: string): Promise<boolean> {
  try {
    await deps.cloudWatch.send(
      new SetAlarmStateCommand({ AlarmName: name, StateValue: 'OK', StateReason: reason.slice(0, 1023) }),
    );
    return true;
  } catch (error) {
    if (isAlarmNotFound(error)) return false;
    throw classify(error, `SetAlarmState ${name}`);
  }
}

/** Deletes the node's predictive alarm (when on); one already gone counts as success. */
export async function deleteTimeToFullAlarm(deps: CwDeps, instanceId: string): Promise<void> {
  if (deps.settings.growth?.timeToFullSeconds === undefined) return;
  await deleteAlarmNamed(deps, timeToFullAlarmName(deps.settings, instanceId));
}

/** Deletes the instance's alarm; an alarm already gone counts as success. */
export async function deleteAlarm(deps: CwDeps, instanceId: string): Promise<void> {
  const name = alarmName(deps.settings, instanceId);
  if (await deleteAlarmNamed(deps, name)) deps.logger.info('disk alarm deleted', { alarmName: name });
  await deleteTimeToFullAlarm(deps, instanceId);
}

/**
 * Sets the alarm back to OK, so that it sends a new ALARM event if the node is still full at the
 * next evaluation (alarms act on transitions only). A missing alarm is left to the reconciler.
 */
export async function resetAlarm(deps: CwDeps, instanceId: string, reason: string): Promise<void> {
  const name = alarmName(deps.settings, instanceId);
  if (!(await setAlarmOk(deps, name, reason)))
    deps.logger.warn('no disk alarm to reset; the reconciler recreates it', { alarmName: name });
  await resetTimeToFullAlarm(deps, instanceId, reason);
}

/** Sets the predictive alarm back to OK too (when on), so that it fires again if the node still fills fast. */
export async function resetTimeToFullAlarm(deps: CwDeps, instanceId: string, reason: string): Promise<void> {
  if (deps.settings.growth?.timeToFullSeconds === undefined) return;
  await setAlarmOk(deps, timeToFullAlarmName(deps.settings, instanceId), reason);
}

/** What a listing of the group's alarms narrows to (DescribeAlarms' server-side filters). */
export interface AlarmListing {
  /** Only alarms in this state (`StateValue`): the reconciler's look at the alarms in ALARM. */
  state?: 'ALARM';
  /**
   * Only the instances whose id starts `i-0<shard>` (one hex digit): the audit's shard
   * (alarm-names.ts `AUDIT_SHARDS`), listed by the longer `AlarmNamePrefix`.
   */
  shard?: string;
}

function toGroupAlarm(alarm: MetricAlarm): GroupAlarm | undefined {
  if (!alarm.AlarmName) return undefined;
  const since = alarm.StateUpdatedTimestamp ? new Date(alarm.StateUpdatedTimestamp).getTime() : undefined;
  return {
    name: alarm.AlarmName,
    state: alarm.StateValue ?? 'INSUFFICIENT_DATA',
    ...(since !== undefined && Number.isFinite(since) ? { stateSince: since } : {}),
  };
}

/**
 * The group's alarms (paginated by name prefix: cost grows with this group's alarms only), all of
 * them or narrowed by state or to one audit shard. The prefix is the one the EventBridge rule and
 * IAM statement use (instanceAlarmPrefix), extended by `0<shard>` for a shard.
 */
export async function listGroupAlarms(deps: CwDeps, listing: AlarmListing = {}): Promise<GroupAlarm[]> {
  const prefix = `${instanceAlarmPrefix(alarmNamePrefix(deps.settings))}${listing.shard === undefined ? '' : `0${listing.shard}`}`;
  const alarms: GroupAlarm[] = [];
  try {
    // MaxRecords 100, the most a page holds (the default is 50): half the pages.
    const pages = paginateDescribeAlarms(
      { client: deps.cloudWatch },
      {
        AlarmNamePrefix: prefix,
        AlarmTypes: ['MetricAlarm'],
        MaxRecords: ALARMS_PER_PAGE,
        ...(listing.state ? { StateValue: listing.state } : {}),
      },
    );
    for await (const page of pages) {
      for (const alarm of page.MetricAlarms ?? []) {
        const found = toGroupAlarm(alarm);
        if (found) alarms.push(found);
      }
    }
  } catch (error) {
    throw classify(error, `DescribeAlarms ${prefix}*${listing.state ? ` in ${listing.state}` : ''}`);
  }
  return alarms;
}

/**
 * The group's disk alarms of these instances that exist, by name (DescribeAlarms `AlarmNames`,
 * at most 100 names a call, which cannot be combined with a prefix): one call per 100 instances.
 */
export async function findInstanceAlarms(
  deps: CwDeps,
  instanceIds: readonly string[],
): Promise<GroupAlarm[]> {
  const found: GroupAlarm[] = [];
  for (let i = 0; i < instanceIds.length; i += ALARMS_PER_PAGE) {
    const names = instanceIds.slice(i, i + ALARMS_PER_PAGE).map((id) => alarmName(deps.settings, id));
    try {
      const pages = paginateDescribeAlarms(
        { client: deps.cloudWatch },
        { AlarmNames: names, AlarmTypes: ['MetricAlarm'], MaxRecords: ALARMS_PER_PAGE },
      );
      for await (const page of pages) {
        for (const alarm of page.MetricAlarms ?? []) {
          const alarmFound = toGroupAlarm(alarm);
          if (alarmFound) found.push(alarmFound);
        }
      }
    } catch (error) {
      throw classify(error, `DescribeAlarms by name (${names.length} alarms)`);
    }
  }
  return found;
}
