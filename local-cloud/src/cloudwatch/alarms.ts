/** Metric alarms: PutMetricAlarm, DescribeAlarms, DeleteAlarms, SetAlarmState, ListTagsForResource. */
import type {
  DeleteAlarmsInput,
  DescribeAlarmsInput,
  ListTagsForResourceInput,
  MetricAlarm,
  PutMetricAlarmInput,
  SetAlarmStateInput,
} from '@aws-sdk/client-cloudwatch';
import { fail } from '../errors';
import { paginate } from '../paging';
import { transition } from './evaluation';
import { mathAlarm } from './math';
import { metricKey } from './metrics';
import {
  ACTION_ARN,
  OPERATORS,
  STATISTICS,
  TREAT_MISSING,
  type Alarm,
  type AlarmStateValue,
  type Statistic,
  type TreatMissing,
} from './records';
import type { CloudWatchState } from './state';
import { required, validation } from './values';

export function putMetricAlarm(cw: CloudWatchState, input: PutMetricAlarmInput): unknown {
  const name = required(input.AlarmName, 'alarmName');
  if (name.length > 255)
    throw validation(
      `Value '${name}' at 'alarmName' failed to satisfy constraint: Member must have length less than or equal to 255`,
    );
  const math = input.Metrics?.length ? mathAlarm(input) : undefined;
  const namespace = math ? math.namespace : required(input.Namespace, 'namespace');
  const metricName = math ? math.metricName : required(input.MetricName, 'metricName');
  const period = math ? math.period : input.Period;
  if (period === undefined)
    throw fail('MissingRequiredParameterException', 'Period must be specified for an alarm on a metric.');
  // https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_PutMetricAlarm.html
  // "Valid values are 10, 30, and any multiple of 60."
  if (!(period === 10 || period === 30 || (period >= 60 && period % 60 === 0))) {
    throw validation(`The parameter Period must be 10, 30 or a multiple of 60 (got ${period}).`);
  }
  const evaluationPeriods = input.EvaluationPeriods;
  if (evaluationPeriods === undefined || evaluationPeriods < 1) {
    throw validation(
      `Value '${String(evaluationPeriods)}' at 'evaluationPeriods' failed to satisfy constraint: Member must have value greater than or equal to 1`,
    );
  }
  // "the product of EvaluationPeriods and Period can't exceed 604,800 (one week)" for periods ≥ 60
  if (period * evaluationPeriods > 86_400 * 7) {
    throw validation(
      'The evaluation period (Period × EvaluationPeriods) must not exceed one week (604800 seconds).',
    );
  }
  const datapointsToAlarm = input.DatapointsToAlarm ?? evaluationPeriods;
  if (datapointsToAlarm < 1 || datapointsToAlarm > evaluationPeriods) {
    throw validation('DatapointsToAlarm must be between 1 and EvaluationPeriods.');
  }
  const comparisonOperator = required(input.ComparisonOperator, 'comparisonOperator');
  if (!OPERATORS[comparisonOperator]) {
    throw validation(
      `Value '${comparisonOperator}' at 'comparisonOperator' failed to satisfy constraint: Member must satisfy enum value set: [${Object.keys(OPERATORS).join(', ')}] (anomaly detection operators are not modelled)`,
    );
  }
  if (input.Threshold === undefined)
    throw fail('MissingRequiredParameterException', 'Threshold must be specified for an alarm on a metric.');
  if (!math && (input.Statistic === undefined) === (input.ExtendedStatistic === undefined)) {
    throw fail(
      'InvalidParameterCombinationException',
      'Exactly one of Statistic or ExtendedStatistic must be specified.',
    );
  }
  if (input.Statistic !== undefined && !STATISTICS.includes(input.Statistic as Statistic)) {
    throw validation(
      `Value '${input.Statistic}' at 'statistic' failed to satisfy constraint: Member must satisfy enum value set: [${STATISTICS.join(', ')}]`,
    );
  }
  if (input.ExtendedStatistic !== undefined && !/^p(\d{1,2}(\.\d+)?|100)$/.test(input.ExtendedStatistic)) {
    throw fail(
      'InvalidParameterValueException',
      `The value ${input.ExtendedStatistic} for parameter ExtendedStatistic is not supported.`,
    );
  }
  const treat = (input.TreatMissingData ?? 'missing') as TreatMissing;
  if (!TREAT_MISSING.includes(treat)) {
    throw validation(`TreatMissingData must be one of ${TREAT_MISSING.join(', ')}.`);
  }
  const dimensions = math ? math.dimensions : (input.Dimensions ?? []);
  if (dimensions.length > 30) throw validation('At most 30 dimensions are allowed.');
  for (const list of [input.AlarmActions, input.OKActions, input.InsufficientDataActions]) {
    if ((list?.length ?? 0) > 5)
      throw fail('LimitExceededFault', 'The maximum number of actions per state is 5.');
    for (const action of list ?? []) {
      if (!ACTION_ARN.test(action)) throw validation(`Invalid arn syntax: ${action}`);
    }
  }
  const now = cw.cloud.clock.now();
  const existing = cw.alarms.get(name);
  const alarm: Alarm = {
    name,
    arn: `arn:aws:cloudwatch:${cw.cloud.region}:${cw.cloud.account}:alarm:${name}`,
    description: input.AlarmDescription,
    actionsEnabled: input.ActionsEnabled ?? true,
    okActions: input.OKActions ?? [],
    alarmActions: input.AlarmActions ?? [],
    insufficientDataActions: input.InsufficientDataActions ?? [],
    namespace,
    metricName,
    dimensions: dimensions.map((d) => ({ Name: d.Name, Value: d.Value })),
    statistic: (math ? math.statistic : input.Statistic) as Statistic | undefined,
    extendedStatistic: input.ExtendedStatistic,
    period,
    unit: input.Unit,
    evaluationPeriods,
    datapointsToAlarm,
    threshold: input.Threshold,
    comparisonOperator,
    treatMissingData: treat,
    // "If you are using this operation to update an existing alarm, any tags you specify in this
    // parameter are ignored."
    tags: existing ? existing.tags : (input.Tags ?? []),
    configUpdated: now,
    // "When you update an existing alarm, its state is left unchanged"
    state: existing?.state ?? {
      value: 'INSUFFICIENT_DATA',
      reason: 'Unchecked: Initial alarm creation',
      timestamp: now,
    },
    stateTransitioned: existing?.stateTransitioned ?? now,
    evaluatedAt: now,
    dirty: true,
    metricKey: metricKey(namespace, metricName, dimensions),
    ...(math
      ? { math: { metrics: input.Metrics ?? [], statId: math.statId, expression: math.expression } }
      : {}),
    metricId:
      existing?.metricId ?? `00000000-0000-4000-a000-${(++cw.alarmSeq).toString(16).padStart(12, '0')}`,
  };
  cw.alarms.set(name, alarm);
  return {};
}

/**
 * DescribeAlarms with the request rules of its API reference
 * (https://docs.aws.amazon.com/AmazonCloudWatch/latest/APIReference/API_DescribeAlarms.html):
 * - `AlarmNamePrefix`: "If this parameter is specified, you cannot specify AlarmNames", refused
 *   with the common error InvalidParameterCombination ("Parameters that must not be used together
 *   were used together", CommonErrors), which the SDK surfaces as InvalidParameterCombinationException;
 *   length 1–255;
 * - `AlarmNames`: at most 100 items, each 1–255 characters; the alarms of those names that exist
 *   (an unknown name is no error, it is just not returned);
 * - `StateValue`: OK | ALARM | INSUFFICIENT_DATA, only alarms in that state;
 * - `ActionPrefix`: length 1–1024;
 * - `MaxRecords`: 1–100 (default 50), `NextToken` from a previous page (else InvalidNextToken).
 * The filters combine (a prefix and a state give the alarms in that state whose names start so).
 * A constraint breach answers the query protocol's ValidationError.
 */
export function describeAlarms(cw: CloudWatchState, input: DescribeAlarmsInput): unknown {
  if (input.AlarmNames?.length && input.AlarmNamePrefix !== undefined) {
    throw fail(
      'InvalidParameterCombinationException',
      'AlarmNamePrefix and AlarmNames cannot be specified together.',
    );
  }
  const names = input.AlarmNames ?? [];
  if (names.length > 100) {
    throw validation(
      `1 validation error detected: Value '[${names.slice(0, 3).join(', ')}, …]' at 'alarmNames' failed to satisfy constraint: Member must have length less than or equal to 100`,
    );
  }
  for (const [i, name] of names.entries()) lengthBetween(name, 1, 255, `alarmNames.${i + 1}.member`);
  if (input.AlarmNamePrefix !== undefined) lengthBetween(input.AlarmNamePrefix, 1, 255, 'alarmNamePrefix');
  if (input.ActionPrefix !== undefined) lengthBetween(input.ActionPrefix, 1, 1024, 'actionPrefix');
  const state = input.StateValue as string | undefined;
  if (state !== undefined && state !== 'OK' && state !== 'ALARM' && state !== 'INSUFFICIENT_DATA') {
    throw validation(
      `1 validation error detected: Value '${state}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]`,
    );
  }
  if (input.MaxRecords !== undefined && (input.MaxRecords < 1 || input.MaxRecords > 100)) {
    throw validation(
      `Value '${input.MaxRecords}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100`,
    );
  }
  const types = input.AlarmTypes ?? ['MetricAlarm'];
  let alarms = types.includes('MetricAlarm') ? [...cw.alarms.values()] : [];
  if (input.AlarmNames?.length) alarms = alarms.filter((a) => input.AlarmNames?.includes(a.name));
  const prefix = input.AlarmNamePrefix;
  if (prefix !== undefined) alarms = alarms.filter((a) => a.name.startsWith(prefix));
  if (input.StateValue) alarms = alarms.filter((a) => a.state.value === input.StateValue);
  const actionPrefix = input.ActionPrefix;
  if (actionPrefix !== undefined) {
    alarms = alarms.filter((a) =>
      [...a.alarmActions, ...a.okActions, ...a.insufficientDataActions].some((x) =>
        x.startsWith(actionPrefix),
      ),
    );
  }
  alarms.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  const { page, nextToken } = alarmPage(alarms, input.MaxRecords ?? 50, input.NextToken);
  return {
    MetricAlarms: page.map((a) => describe(a)),
    CompositeAlarms: [],
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

/** A string parameter's length constraint, refused as the query protocol's ValidationError. */
function lengthBetween(value: string, min: number, max: number, at: string): void {
  if (value.length < min)
    throw validation(
      `1 validation error detected: Value '${value}' at '${at}' failed to satisfy constraint: Member must have length greater than or equal to ${min}`,
    );
  if (value.length > max)
    throw validation(
      `1 validation error detected: Value '${value.slice(0, 40)}…' at '${at}' failed to satisfy constraint: Member must have length less than or equal to ${max}`,
    );
}

export function deleteAlarms(cw: CloudWatchState, input: DeleteAlarmsInput): unknown {
  const names = input.AlarmNames ?? [];
  if (names.length > 100) throw validation('At most 100 alarm names can be deleted at once.');
  // "If you specify an incorrect alarm name or make any other error in the operation, no alarms
  // are deleted."
  const missing = names.filter((n) => !cw.alarms.has(n));
  if (missing.length > 0) throw fail('ResourceNotFound', `${missing.join(', ')} not found`, 404);
  for (const name of names) cw.alarms.delete(name);
  return {};
}

export function setAlarmState(cw: CloudWatchState, input: SetAlarmStateInput): unknown {
  const name = required(input.AlarmName, 'alarmName');
  const alarm = cw.alarms.get(name);
  if (!alarm) throw fail('ResourceNotFound', `Alarm ${name} not found`, 404);
  const value = input.StateValue as AlarmStateValue | undefined;
  if (value !== 'OK' && value !== 'ALARM' && value !== 'INSUFFICIENT_DATA') {
    throw validation(
      `Value '${String(value)}' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]`,
    );
  }
  const reason = required(input.StateReason, 'stateReason');
  if (input.StateReasonData !== undefined) {
    try {
      JSON.parse(input.StateReasonData);
    } catch {
      throw fail('InvalidFormatFault', 'StateReasonData must be valid JSON.');
    }
  }
  // The state is set now; the next evaluation puts it back where the data says (AWS: "the alarm
  // state is returned to the state that the metric data indicates at the next evaluation").
  alarm.dirty = true;
  transition(cw, alarm, {
    value,
    reason,
    reasonData: input.StateReasonData,
    timestamp: cw.cloud.clock.now(),
  });
  return {};
}

export function listTagsForResource(cw: CloudWatchState, input: ListTagsForResourceInput): unknown {
  const arn = required(input.ResourceARN, 'resourceARN');
  const alarm = [...cw.alarms.values()].find((a) => a.arn === arn);
  if (!alarm) throw fail('ResourceNotFoundException', `The resource ${arn} does not exist.`, 404);
  return { Tags: alarm.tags };
}

export function describe(a: Alarm): MetricAlarm {
  return {
    AlarmName: a.name,
    AlarmArn: a.arn,
    ...(a.description !== undefined ? { AlarmDescription: a.description } : {}),
    AlarmConfigurationUpdatedTimestamp: new Date(a.configUpdated),
    ActionsEnabled: a.actionsEnabled,
    OKActions: a.okActions,
    AlarmActions: a.alarmActions,
    InsufficientDataActions: a.insufficientDataActions,
    StateValue: a.state.value,
    StateReason: a.state.reason,
    ...(a.state.reasonData !== undefined ? { StateReasonData: a.state.reasonData } : {}),
    StateUpdatedTimestamp: new Date(a.state.timestamp),
    StateTransitionedTimestamp: new Date(a.stateTransitioned),
    ...(a.math
      ? { Metrics: a.math.metrics }
      : {
          MetricName: a.metricName,
          Namespace: a.namespace,
          ...(a.statistic ? { Statistic: a.statistic } : {}),
          ...(a.extendedStatistic ? { ExtendedStatistic: a.extendedStatistic } : {}),
          Dimensions: a.dimensions,
          Period: a.period,
        }),
    ...(a.unit ? { Unit: a.unit as MetricAlarm['Unit'] } : {}),
    EvaluationPeriods: a.evaluationPeriods,
    DatapointsToAlarm: a.datapointsToAlarm,
    Threshold: a.threshold,
    ComparisonOperator: a.comparisonOperator as MetricAlarm['ComparisonOperator'],
    TreatMissingData: a.treatMissingData,
  };
}

export function alarmPage<T>(
  items: T[],
  max: number,
  token: string | undefined,
): { page: T[]; nextToken?: string } {
  try {
    return paginate(items, max, token, { min: 1, max: 100, parameter: 'MaxRecords' });
  } catch (error) {
    if (error instanceof Error && error.name === 'InvalidNextToken')
      throw fail('InvalidNextToken', 'The service returned an invalid NextToken.');
    throw error;
  }
}
