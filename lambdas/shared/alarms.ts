/**
 * berth's per-instance disk alarms: one CloudWatch alarm per node or spare with growth enabled, on
 * the CloudWatch agent's `disk_used_percent` of the group's mount point. Its name carries the group
 * and the instance, so the EventBridge rule and the grow handler can tell it from anyone else's.
 *
 * Its alarm action is the grow function (CloudWatch's Lambda alarm action: "Invoke a Lambda
 * function from an alarm", CloudWatch user guide), so the console shows what the alarm does. The
 * functions learn the grow function's ARN from `BERTH_GROW_FUNCTION_ARN` (set by the infra); the
 * grow function, whose environment cannot name itself in CloudFormation (a cycle), from its
 * invocation context (`useOwnArnAsGrowAction`). PutMetricAlarm with a Lambda action needs no IAM
 * beyond cloudwatch:PutMetricAlarm (the PutMetricAlarm API reference lists extra permissions for
 * EC2 and Systems Manager actions only); the function's resource policy admits the alarms.
 */
import {
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  type PutMetricAlarmCommandInput,
  SetAlarmStateCommand,
  type MetricAlarm,
} from '@aws-sdk/client-cloudwatch';
import { DescribeVolumesCommand } from '@aws-sdk/client-ec2';
import { retrying, tagMap } from './attachments';
import { ConfigError, type Settings } from './config';
import type { Deps } from './deps';
import { classify, errorName } from './errors';
import { thresholdFor } from '../grow/policy';
import { groupAlarmNamePrefix, instanceAlarmPrefix } from '../../infra/event-patterns';
import { GROW_FUNCTION_ARN_ENV } from './contract';

/** The CloudWatch agent's namespace and metric (with `drop_device: true`). */
export const AGENT_NAMESPACE = 'CWAgent';
export const DISK_METRIC = 'disk_used_percent';
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

type CwDeps = Pick<Deps, 'cloudWatch' | 'clock' | 'settings' | 'logger'>;

export { GROW_FUNCTION_ARN_ENV };

/** An unqualified Lambda function ARN (Lambda API reference, FunctionArn pattern, unqualified). */
const FUNCTION_ARN = /^arn:aws[a-z-]{0,16}:lambda:[a-z0-9-]{1,32}:\d{12}:function:[A-Za-z0-9_-]{1,64}$/;

/** The disk alarms' action: the grow function's unqualified ARN, or undefined (no action). */
export function growActionArn(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const value = env[GROW_FUNCTION_ARN_ENV];
  if (value === undefined || value === '') return undefined;
  if (!FUNCTION_ARN.test(value)) {
    throw new ConfigError(
      GROW_FUNCTION_ARN_ENV,
      `must be an unqualified Lambda function ARN such as arn:aws:lambda:eu-west-1:111111111111:function:grow (got ${JSON.stringify(value.slice(0, 140))}); the infra sets it to the grow function`,
    );
  }
  return value;
}

/** `arn:…:function:name[:qualifier]` without its qualifier (an alias or version). */
export function unqualifiedFunctionArn(arn: string): string {
  return arn.split(':').slice(0, 7).join(':');
}

/**
 * The grow function names itself as the disk alarms' action, from the ARN it was invoked by
 * (Lambda context `invokedFunctionArn`), when its environment does not already name it.
 */
export function useOwnArnAsGrowAction(invokedFunctionArn: string | undefined): void {
  if (process.env[GROW_FUNCTION_ARN_ENV] || !invokedFunctionArn) return;
  const arn = unqualifiedFunctionArn(invokedFunctionArn);
  if (FUNCTION_ARN.test(arn)) process.env[GROW_FUNCTION_ARN_ENV] = arn;
}

/** `${alarmPrefix}${groupName}-${instanceId}`. */
export function alarmName(settings: Pick<Settings, 'alarmPrefix' | 'groupName'>, instanceId: string): string {
  return `${alarmNamePrefix(settings)}${instanceId}`;
}

/** What every alarm of this group starts with. */
export function alarmNamePrefix(settings: Pick<Settings, 'alarmPrefix' | 'groupName'>): string {
  return groupAlarmNamePrefix(settings.alarmPrefix, settings.groupName);
}

/** The instance an alarm name belongs to, when it is one of this group's alarms; else undefined. */
export function instanceOfAlarm(
  settings: Pick<Settings, 'alarmPrefix' | 'groupName'>,
  name: string,
): string | undefined {
  const prefix = alarmNamePrefix(settings);
  if (!name.startsWith(prefix)) return undefined;
  const rest = name.slice(prefix.length);
  return INSTANCE_ID.test(rest) ? rest : undefined;
}

/** The predictive alarm's name: the disk alarm's with this suffix. */
export const TIME_TO_FULL_SUFFIX = '-time-to-full';

export function timeToFullAlarmName(
  settings: Pick<Settings, 'alarmPrefix' | 'groupName'>,
  instanceId: string,
): string {
  return `${alarmName(settings, instanceId)}${TIME_TO_FULL_SUFFIX}`;
}

/** The instance a predictive alarm name belongs to, when it is one of this group's; else undefined. */
export function instanceOfTimeToFullAlarm(
  settings: Pick<Settings, 'alarmPrefix' | 'groupName'>,
  name: string,
): string | undefined {
  if (!name.endsWith(TIME_TO_FULL_SUFFIX)) return undefined;
  return instanceOfAlarm(settings, name.slice(0, -TIME_TO_FULL_SUFFIX.length));
}

/**
 * The projected time to full in seconds, as CloudWatch metric math ("Metric math syntax and
 * functions": RATE is the change per second between the last two datapoints; IF picks point by
 * point): where the disk fills, (100 - used %) / rate; elsewhere a value far above any threshold.
 */
export const TIME_TO_FULL_EXPRESSION = 'IF(RATE(m1) > 0, (100 - m1) / RATE(m1), 1000000000)';

/** The alarm's metric dimensions: the agent's `InstanceId, path, fstype`. */
export function alarmDimensions(settings: Settings, instanceId: string): { Name: string; Value: string }[] {
  return [
    { Name: 'InstanceId', Value: instanceId },
    { Name: 'path', Value: settings.mountPoint },
    { Name: 'fstype', Value: settings.filesystem },
  ];
}

/**
 * Counts the volumes of the instance's filesystem (its set's, or berth's scratch volumes) to find
 * the threshold the policy gives it: what a replaced node with a grown set starts with.
 */
async function currentThreshold(deps: Pick<Deps, 'ec2' | 'clock' | 'settings'>, instanceId: string) {
  const { settings } = deps;
  const growth = settings.growth;
  if (!growth) return 90;
  const out = await retrying(deps, () =>
    deps.ec2.send(
      new DescribeVolumesCommand({ Filters: [{ Name: 'attachment.instance-id', Values: [instanceId] }] }),
    ),
  );
  const members = (out.Volumes ?? []).filter((v) => {
    const tags = tagMap(v.Tags);
    return tags[settings.nodeIdTagKey] !== undefined || tags[settings.ownerTagKey] === settings.groupName;
  });
  return thresholdFor(growth, Math.max(1, members.length));
}

/**
 * PutMetricAlarm with the tags every berth alarm carries (owner group, instance). An upsert that
 * keeps the alarm's state, so calling it again is harmless.
 */
async function putGroupAlarm(
  deps: Pick<Deps, 'cloudWatch' | 'clock' | 'settings'>,
  instanceId: string,
  input: Omit<PutMetricAlarmCommandInput, 'Tags'> & { AlarmName: string },
): Promise<void> {
  const { settings } = deps;
  try {
    await retrying(deps, () =>
      deps.cloudWatch.send(
        new PutMetricAlarmCommand({
          ...input,
          Tags: [
            { Key: settings.ownerTagKey, Value: settings.groupName },
            { Key: 'berth:instance', Value: instanceId },
          ],
        }),
      ),
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
  deps: Pick<Deps, 'cloudWatch' | 'ec2' | 'clock' | 'settings' | 'logger'>,
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
  deps: Pick<Deps, 'cloudWatch' | 'clock' | 'settings' | 'logger'>,
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
    await retrying(deps, () => deps.cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: [name] })));
    return true;
  } catch (error) {
    if (isAlarmNotFound(error)) return false;
    throw classify(error, `DeleteAlarms ${name}`);
  }
}

/** Sets one alarm to OK; false when it does not exist. */
async function setAlarmOk(deps: CwDeps, name: string, reason: string): Promise<boolean> {
  try {
    await retrying(deps, () =>
      deps.cloudWatch.send(
        new SetAlarmStateCommand({ AlarmName: name, StateValue: 'OK', StateReason: reason.slice(0, 1023) }),
      ),
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

/**
 * Every alarm of this group (paginated by name prefix: cost grows with this group's alarms only).
 * The prefix is the one the EventBridge rule and IAM statement use (instanceAlarmPrefix).
 */
export async function listGroupAlarms(deps: CwDeps): Promise<MetricAlarm[]> {
  const prefix = instanceAlarmPrefix(alarmNamePrefix(deps.settings));
  const alarms: MetricAlarm[] = [];
  let token: string | undefined;
  do {
    const out = await retrying(deps, () =>
      deps.cloudWatch.send(
        // MaxRecords 100, the most a page holds (the default is 50): half the pages.
        new DescribeAlarmsCommand({
          AlarmNamePrefix: prefix,
          AlarmTypes: ['MetricAlarm'],
          MaxRecords: 100,
          NextToken: token,
        }),
      ),
    );
    alarms.push(...(out.MetricAlarms ?? []));
    token = out.NextToken;
  } while (token);
  return alarms;
}
