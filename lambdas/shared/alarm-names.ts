/**
 * berth's per-instance disk alarms, the pure half (names, action, dimensions, metric math; the
 * CloudWatch calls are lambdas/aws/alarms.ts): one CloudWatch alarm per node or spare with growth enabled, on
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
import { ConfigError, type Settings } from './config';
import { groupAlarmNamePrefix } from '../../infra/event-patterns';
import { GROW_FUNCTION_ARN_ENV } from './contract';

/** The CloudWatch agent's namespace and metric (with `drop_device: true`). */
export const AGENT_NAMESPACE = 'CWAgent';
export const DISK_METRIC = 'disk_used_percent';
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

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
 * The most alarms one DescribeAlarms page holds (`MaxRecords` 1–100, DescribeAlarms API reference)
 * and the most names one call may give in `AlarmNames` (at most 100 items, same reference).
 */
export const ALARMS_PER_PAGE = 100;

/**
 * The alarm audit's rotation (the reconciler's missing and orphaned alarms; `repairAlarms`). Up to
 * one page of alarms the whole group is audited every run. Above it, one shard per run: alarm
 * names are `${prefix}i-<instance id>`, and an EC2 instance id is `i-0` followed by 16 lowercase
 * hex digits, so the digit after `i-0` splits the alarms into 16 shards that DescribeAlarms can
 * list by `AlarmNamePrefix` (its only server-side narrowing by name). Run k audits shard
 * `floor(now / interval) mod 16`: a full cycle is 16 runs, 16 × the reconcile interval (80 minutes
 * on the default 5-minute schedule), and an alarm deleted from outside comes back within one cycle.
 */
export const AUDIT_SHARDS = 16;

/** An EC2 instance id of today's long form: `i-0` and 16 lowercase hex digits; the shard is `[1]`. */
const SHARDED_INSTANCE_ID = /^i-0([0-9a-f])[0-9a-f]{15}$/;

/** The audit shard (one hex digit) of an instance id, or undefined when it is not of the `i-0` + 16 hex form. */
export function auditShardOf(instanceId: string): string | undefined {
  return SHARDED_INSTANCE_ID.exec(instanceId)?.[1];
}

/** The shard the run at `nowMs` audits, on a schedule of one run every `intervalMinutes`. */
export function auditShard(nowMs: number, intervalMinutes: number): string {
  const slot = Math.floor(nowMs / (intervalMinutes * 60_000)) % AUDIT_SHARDS;
  return slot.toString(16);
}

/**
 * The reconcile function's schedule, in minutes, as the infra sets it in this environment variable
 * (the construct's `reconcileEveryMinutes`); the audit's slot needs it so that consecutive runs take
 * consecutive shards (a 10-minute schedule read as 5 minutes would only ever see the even shards).
 */
export const RECONCILE_MINUTES_ENV = 'BERTH_RECONCILE_MINUTES';

/** The construct's default reconcile schedule (infra/defaults.ts `DEFAULT_RECONCILE_MINUTES` re-exports it). */
export const DEFAULT_RECONCILE_MINUTES = 5;

/** Minutes between two reconciler runs: the environment's (1–1440 whole minutes), else the default. */
export function reconcileIntervalMinutes(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[RECONCILE_MINUTES_ENV];
  if (raw === undefined || raw === '') return DEFAULT_RECONCILE_MINUTES;
  const minutes = Number(raw);
  if (!Number.isInteger(minutes) || minutes < 1 || minutes > 1440) {
    throw new ConfigError(
      RECONCILE_MINUTES_ENV,
      `must be whole minutes from 1 to 1440 (got ${JSON.stringify(raw.slice(0, 40))}); the infra sets it to the reconcile schedule`,
    );
  }
  return minutes;
}
