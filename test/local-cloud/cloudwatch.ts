import type {
  DeleteAlarmsInput,
  DescribeAlarmsInput,
  Dimension,
  GetMetricDataInput,
  GetMetricStatisticsInput,
  ListTagsForResourceInput,
  MetricAlarm,
  MetricDataQuery,
  PutMetricAlarmInput,
  PutMetricDataInput,
  SetAlarmStateInput,
  Tag,
} from '@aws-sdk/client-cloudwatch';
import { fail } from './errors';
import type { LocalCloud } from './index';
import { paginate } from './paging';
import { unknownOperation, type ServiceModel } from './transport';

/**
 * CloudWatch: metric alarms, metric data and alarm evaluation, with the `CloudWatch Alarm State
 * Change` event on every state transition (and only then: alarms act on transitions).
 *
 * Evaluation is settled lazily from the clock: whenever the model is called or the event bus is read,
 * each alarm is evaluated at every evaluation tick it has not seen yet (every minute; every 10 s for
 * periods below 60 s), over the `EvaluationPeriods` most recent *complete* periods, so a datapoint
 * counts once its period has ended (AWS also evaluates with a delay).
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
 */

export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

const STATISTICS = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum'] as const;
type Statistic = (typeof STATISTICS)[number];

const OPERATORS: Record<string, { phrase: string; breaches: (value: number, threshold: number) => boolean }> =
  {
    GreaterThanThreshold: { phrase: 'greater than', breaches: (v, t) => v > t },
    GreaterThanOrEqualToThreshold: { phrase: 'greater than or equal to', breaches: (v, t) => v >= t },
    LessThanThreshold: { phrase: 'less than', breaches: (v, t) => v < t },
    LessThanOrEqualToThreshold: { phrase: 'less than or equal to', breaches: (v, t) => v <= t },
  };

const TREAT_MISSING = ['missing', 'ignore', 'breaching', 'notBreaching'] as const;
type TreatMissing = (typeof TREAT_MISSING)[number];

interface AlarmState {
  value: AlarmStateValue;
  reason: string;
  reasonData?: string;
  timestamp: number;
}

interface Alarm {
  name: string;
  arn: string;
  description?: string;
  actionsEnabled: boolean;
  okActions: string[];
  alarmActions: string[];
  insufficientDataActions: string[];
  namespace: string;
  metricName: string;
  dimensions: Dimension[];
  statistic?: Statistic;
  extendedStatistic?: string;
  period: number;
  unit?: string;
  evaluationPeriods: number;
  datapointsToAlarm: number;
  threshold: number;
  comparisonOperator: string;
  treatMissingData: TreatMissing;
  tags: Tag[];
  configUpdated: number;
  state: AlarmState;
  stateTransitioned: number;
  /** Last evaluation tick already settled. */
  evaluatedAt: number;
  /** End of the complete periods the last evaluation saw. */
  evaluatedEnd?: number;
  /** State set by hand or data put since the last evaluation: evaluate at the next tick. */
  dirty: boolean;
  /** Key of the metric in the model's datapoint store. */
  metricKey: string;
  /** A metric math alarm: its queries as given, and the expression that returns its data. */
  math?: { metrics: MetricDataQuery[]; statId: string; expression: MathNode };
  /** Id of the metric in the event's `configuration.metrics` (AWS generates one per alarm). */
  metricId: string;
}

interface Datapoint {
  timestamp: number;
  sum: number;
  count: number;
  min: number;
  max: number;
  values: number[];
}

/** An action an alarm would have taken (its AlarmActions/OKActions/… on a transition). */
export interface InvokedAction {
  alarmName: string;
  action: string;
  state: AlarmStateValue;
  at: number;
}

/**
 * A Lambda invocation an alarm's Lambda action made: the function (as the action names it) and the
 * payload CloudWatch sends ("Invoke a Lambda function from an alarm", CloudWatch user guide:
 * `source`, `alarmArn`, `accountId`, `time`, `region`, `alarmData{alarmName, state, previousState,
 * configuration}`). Asynchronous, one per state change; a test delivers it to the handler.
 */
export interface LambdaAlarmInvocation {
  functionArn: string;
  payload: {
    source: 'aws.cloudwatch';
    alarmArn: string;
    accountId: string;
    time: string;
    region: string;
    alarmData: Record<string, unknown>;
  };
}

/** Alarm action ARNs CloudWatch accepts (PutMetricAlarm API reference, AlarmActions "Valid Values"). */
const ACTION_ARN =
  /^arn:aws[a-z-]{0,16}:(?:sns:[a-z0-9-]{1,32}:\d{12}:[A-Za-z0-9_-]{1,256}|lambda:[a-z0-9-]{1,32}:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?|automate:[a-z0-9-]{1,32}:ec2:(?:stop|terminate|reboot|recover)|autoscaling:.{1,1500}|ssm:.{1,1500}|ssm-incidents:.{1,1500}|aiops:.{1,1500})$/;
const LAMBDA_ACTION = /^arn:aws[a-z-]{0,16}:lambda:/;

export class CloudWatchModel implements ServiceModel {
  private alarms = new Map<string, Alarm>();
  private metrics = new Map<string, Datapoint[]>();
  private alarmSeq = 0;
  /** Actions alarms took, in order (only when ActionsEnabled, only on transitions). */
  readonly invokedActions: InvokedAction[] = [];
  /** Lambda alarm actions not yet taken by a test (`takeLambdaInvocations`). */
  private lambdaQueue: LambdaAlarmInvocation[] = [];

  constructor(readonly cloud: LocalCloud) {
    cloud.events.addSettler(() => this.evaluate());
  }

  handle(operation: string, input: Record<string, unknown>): unknown {
    this.evaluate();
    switch (operation) {
      case 'PutMetricAlarm':
        return this.putMetricAlarm(input as unknown as PutMetricAlarmInput);
      case 'DescribeAlarms':
        return this.describeAlarms(input as unknown as DescribeAlarmsInput);
      case 'DeleteAlarms':
        return this.deleteAlarms(input as unknown as DeleteAlarmsInput);
      case 'SetAlarmState':
        return this.setAlarmState(input as unknown as SetAlarmStateInput);
      case 'PutMetricData':
        return this.putMetricData(input as unknown as PutMetricDataInput);
      case 'GetMetricData':
        return this.getMetricData(input as unknown as GetMetricDataInput);
      case 'GetMetricStatistics':
        return this.getMetricStatistics(input as unknown as GetMetricStatisticsInput);
      case 'ListTagsForResource':
        return this.listTagsForResource(input as unknown as ListTagsForResourceInput);
      default:
        return unknownOperation('cloudwatch', operation);
    }
  }

  /** The alarm's current state (for tests), or undefined. */
  alarmState(name: string): AlarmStateValue | undefined {
    this.evaluate();
    return this.alarms.get(name)?.state.value;
  }

  /**
   * An alarm event storm (fault injection): the alarm flaps between ALARM and OK `transitions`
   * times, one state change (one EventBridge event) each, as a metric hovering at its threshold
   * makes it do. Ends in ALARM when `transitions` is odd. Returns the number of state changes.
   */
  flap(name: string, transitions: number): number {
    const alarm = this.alarms.get(name);
    if (!alarm) return 0;
    let changes = 0;
    for (let i = 0; i < transitions; i++) {
      const value: AlarmStateValue = alarm.state.value === 'ALARM' ? 'OK' : 'ALARM';
      alarm.dirty = true;
      this.transition(alarm, {
        value,
        reason: `local cloud: alarm flapping (${i + 1}/${transitions})`,
        reasonData: '{}',
        timestamp: this.cloud.clock.now() + i,
      });
      changes++;
    }
    return changes;
  }

  /**
   * Takes the Lambda invocations alarm actions made (optionally only those of one function): the
   * test delivers each payload to the handler, as Lambda's asynchronous invocation would.
   */
  takeLambdaInvocations(functionArn?: string): LambdaAlarmInvocation[] {
    this.cloud.events.settle();
    const taken = this.lambdaQueue.filter((i) => functionArn === undefined || i.functionArn === functionArn);
    this.lambdaQueue = this.lambdaQueue.filter((i) => !taken.includes(i));
    return taken;
  }

  alarmNames(): string[] {
    return [...this.alarms.keys()].sort();
  }

  /** Evaluates every alarm at each evaluation tick up to now (called on every read of the model). */
  evaluate(): void {
    const now = this.cloud.clock.now();
    for (const alarm of this.alarms.values()) {
      const step = alarm.period < 60 ? 10_000 : 60_000;
      const periodMs = alarm.period * 1000;
      const points = this.points(alarm);
      let tick = Math.floor(alarm.evaluatedAt / step) * step + step;
      if (tick > now) continue;
      while (tick <= now) {
        const end = Math.floor(tick / periodMs) * periodMs;
        // Ticks that see the same complete periods give the same answer, unless the alarm's state
        // was set by hand or data arrived since: those are skipped.
        if (end !== alarm.evaluatedEnd || alarm.dirty) {
          this.evaluateAt(alarm, tick);
          alarm.evaluatedEnd = end;
          alarm.dirty = false;
        }
        // Nothing in the evaluation range: the answer stays the same until the next datapoint
        // enters it, so a long jump of the clock costs one evaluation, not one per minute.
        const windowStart = end - alarm.evaluationPeriods * periodMs;
        const nextIndex = lowerBound(points, windowStart);
        const next = points[nextIndex];
        if (next === undefined || next.timestamp >= end) {
          const enters =
            next === undefined ? Infinity : Math.floor(next.timestamp / periodMs) * periodMs + periodMs;
          const jumpTo = Math.ceil(Math.min(enters, now + step) / step) * step;
          tick = Math.max(tick + step, jumpTo);
        } else {
          tick += step;
        }
      }
      alarm.evaluatedAt = Math.max(alarm.evaluatedAt, Math.floor(now / step) * step);
    }
  }

  private points(alarm: Alarm): Datapoint[] {
    return this.metrics.get(alarm.metricKey) ?? [];
  }

  // ---- operations -------------------------------------------------------------------------------

  private putMetricAlarm(input: PutMetricAlarmInput): unknown {
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
      throw fail(
        'MissingRequiredParameterException',
        'Threshold must be specified for an alarm on a metric.',
      );
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
    const now = this.cloud.clock.now();
    const existing = this.alarms.get(name);
    const alarm: Alarm = {
      name,
      arn: `arn:aws:cloudwatch:${this.cloud.region}:${this.cloud.account}:alarm:${name}`,
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
        existing?.metricId ?? `00000000-0000-4000-a000-${(++this.alarmSeq).toString(16).padStart(12, '0')}`,
    };
    this.alarms.set(name, alarm);
    return {};
  }

  private describeAlarms(input: DescribeAlarmsInput): unknown {
    if (input.AlarmNames?.length && input.AlarmNamePrefix !== undefined) {
      throw fail(
        'InvalidParameterCombinationException',
        'AlarmNamePrefix and AlarmNames cannot be specified together.',
      );
    }
    if (input.MaxRecords !== undefined && (input.MaxRecords < 1 || input.MaxRecords > 100)) {
      throw validation(
        `Value '${input.MaxRecords}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100`,
      );
    }
    const types = input.AlarmTypes ?? ['MetricAlarm'];
    let alarms = types.includes('MetricAlarm') ? [...this.alarms.values()] : [];
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
    const { page, nextToken } = this.page(alarms, input.MaxRecords ?? 50, input.NextToken);
    return {
      MetricAlarms: page.map((a) => this.describe(a)),
      CompositeAlarms: [],
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  private deleteAlarms(input: DeleteAlarmsInput): unknown {
    const names = input.AlarmNames ?? [];
    if (names.length > 100) throw validation('At most 100 alarm names can be deleted at once.');
    // "If you specify an incorrect alarm name or make any other error in the operation, no alarms
    // are deleted."
    const missing = names.filter((n) => !this.alarms.has(n));
    if (missing.length > 0) throw fail('ResourceNotFound', `${missing.join(', ')} not found`, 404);
    for (const name of names) this.alarms.delete(name);
    return {};
  }

  private setAlarmState(input: SetAlarmStateInput): unknown {
    const name = required(input.AlarmName, 'alarmName');
    const alarm = this.alarms.get(name);
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
    this.transition(alarm, {
      value,
      reason,
      reasonData: input.StateReasonData,
      timestamp: this.cloud.clock.now(),
    });
    return {};
  }

  private putMetricData(input: PutMetricDataInput): unknown {
    const namespace = required(input.Namespace, 'namespace');
    if (namespace.startsWith('AWS/')) {
      throw fail('InvalidParameterValueException', 'The value AWS/ for parameter Namespace is invalid.');
    }
    const data = input.MetricData ?? [];
    if (data.length > 1000) throw validation('At most 1000 metrics can be put in one request.');
    const now = this.cloud.clock.now();
    const touched = new Set<string>();
    const accepted: [string, Datapoint[]][] = [];
    for (const datum of data) {
      const metricName = required(datum.MetricName, 'metricName');
      const timestamp = datum.Timestamp === undefined ? now : toMs(datum.Timestamp);
      // Data up to two weeks old and up to two hours in the future is accepted.
      if (timestamp < now - 14 * 86_400_000 || timestamp > now + 2 * 3_600_000) {
        throw fail(
          'InvalidParameterValueException',
          `The parameter MetricData.member.1.Timestamp must specify a time no more than two weeks in the past or two hours in the future.`,
        );
      }
      const points: Datapoint[] = [];
      if (datum.StatisticValues) {
        const s = datum.StatisticValues;
        points.push({
          timestamp,
          sum: s.Sum ?? 0,
          count: s.SampleCount ?? 0,
          min: s.Minimum ?? 0,
          max: s.Maximum ?? 0,
          values: [],
        });
      } else if (datum.Values?.length) {
        datum.Values.forEach((v, i) => {
          const count = datum.Counts?.[i] ?? 1;
          points.push({
            timestamp,
            sum: v * count,
            count,
            min: v,
            max: v,
            values: Array<number>(count).fill(v),
          });
        });
      } else if (datum.Value !== undefined) {
        const v = datum.Value;
        if (!Number.isFinite(v))
          throw fail(
            'InvalidParameterValueException',
            'The value for parameter MetricData.member.1.Value must be finite.',
          );
        points.push({ timestamp, sum: v, count: 1, min: v, max: v, values: [v] });
      } else {
        throw fail(
          'MissingRequiredParameterException',
          'One of Value, Values or StatisticValues must be specified.',
        );
      }
      accepted.push([metricKey(namespace, metricName, datum.Dimensions ?? []), points]);
    }
    // The whole request is validated before any datapoint is stored.
    for (const [key, points] of accepted) {
      const list = this.metrics.get(key) ?? [];
      // Kept sorted by timestamp (evaluation looks windows up by binary search).
      for (const point of points) list.splice(upperBound(list, point.timestamp), 0, point);
      this.metrics.set(key, list);
      touched.add(key);
    }
    for (const alarm of this.alarms.values()) if (touched.has(alarm.metricKey)) alarm.dirty = true;
    return {};
  }

  private getMetricStatistics(input: GetMetricStatisticsInput): unknown {
    const namespace = required(input.Namespace, 'namespace');
    const metricName = required(input.MetricName, 'metricName');
    const period = required(input.Period, 'period');
    const start = toMs(required(input.StartTime, 'startTime'));
    const end = toMs(required(input.EndTime, 'endTime'));
    const statistics = (input.Statistics ?? []) as Statistic[];
    const points = this.metrics.get(metricKey(namespace, metricName, input.Dimensions ?? [])) ?? [];
    const datapoints = [];
    const step = period * 1000;
    for (let from = Math.floor(start / step) * step; from < end; from += step) {
      const inside = points.filter((p) => p.timestamp >= from && p.timestamp < from + step);
      if (inside.length === 0) continue;
      const datapoint: Record<string, unknown> = { Timestamp: new Date(from), Unit: input.Unit ?? 'None' };
      for (const stat of statistics) datapoint[stat] = aggregate(inside, stat);
      datapoints.push(datapoint);
    }
    return { Label: metricName, Datapoints: datapoints };
  }

  /** MetricStat queries only (no metric math), newest first by default as AWS answers. */
  private getMetricData(input: GetMetricDataInput): unknown {
    const start = toMs(required(input.StartTime, 'startTime'));
    const end = toMs(required(input.EndTime, 'endTime'));
    const queries = input.MetricDataQueries ?? [];
    if (queries.length > 500) throw validation('At most 500 metric data queries are allowed.');
    const results = queries.map((q) => {
      const stat = q.MetricStat;
      if (!stat?.Metric) {
        throw fail(
          'InvalidParameterValueException',
          `Query ${q.Id ?? ''}: only MetricStat queries are modelled.`,
        );
      }
      const points =
        this.metrics.get(
          metricKey(stat.Metric.Namespace ?? '', stat.Metric.MetricName ?? '', stat.Metric.Dimensions ?? []),
        ) ?? [];
      const step = (stat.Period ?? 60) * 1000;
      const rows: [number, number][] = [];
      for (let from = Math.floor(start / step) * step; from < end; from += step) {
        const inside = points.slice(lowerBound(points, from), lowerBound(points, from + step));
        if (inside.length > 0) rows.push([from, aggregate(inside, stat.Stat ?? 'Average')]);
      }
      if (input.ScanBy !== 'TimestampAscending') rows.reverse();
      return {
        Id: q.Id,
        Label: q.Label ?? stat.Metric.MetricName,
        Timestamps: rows.map(([t]) => new Date(t)),
        Values: rows.map(([, v]) => v),
        StatusCode: 'Complete',
      };
    });
    return { MetricDataResults: results.filter((_, i) => queries[i]?.ReturnData !== false), Messages: [] };
  }

  private listTagsForResource(input: ListTagsForResourceInput): unknown {
    const arn = required(input.ResourceARN, 'resourceARN');
    const alarm = [...this.alarms.values()].find((a) => a.arn === arn);
    if (!alarm) throw fail('ResourceNotFoundException', `The resource ${arn} does not exist.`, 404);
    return { Tags: alarm.tags };
  }

  // ---- evaluation -------------------------------------------------------------------------------

  private evaluateAt(alarm: Alarm, tick: number): void {
    const step = alarm.period * 1000;
    const end = Math.floor(tick / step) * step;
    const points = this.points(alarm);
    const operator = OPERATORS[alarm.comparisonOperator];
    if (!operator) return;
    const stat = alarm.statistic ?? alarm.extendedStatistic ?? 'Average';
    // Oldest first, as AWS lists evaluated datapoints.
    const periods: { start: number; value: number | undefined; count: number }[] = [];
    // A metric math alarm also reads the periods before its window (RATE needs a previous value).
    const lookBack = alarm.math ? MATH_LOOKBACK_PERIODS : 0;
    for (let k = alarm.evaluationPeriods + lookBack; k >= 1; k--) {
      const from = end - k * step;
      const inside = points.slice(lowerBound(points, from), lowerBound(points, from + step));
      periods.push({
        start: from,
        value: inside.length ? aggregate(inside, stat) : undefined,
        count: inside.reduce((n, p) => n + p.count, 0),
      });
    }
    if (alarm.math) {
      const series: Series = {
        times: periods.map((p) => p.start / 1000),
        values: { [alarm.math.statId]: periods.map((p) => p.value) },
      };
      const computed = evaluateMath(alarm.math.expression, series);
      periods.forEach((p, i) => {
        const v = computed[i];
        p.value = v === undefined || !Number.isFinite(v) ? undefined : v;
      });
      periods.splice(0, lookBack);
    }
    const present = periods.filter((p) => p.value !== undefined);
    const isBreaching = (p: { value: number | undefined }): boolean =>
      p.value === undefined
        ? alarm.treatMissingData === 'breaching'
        : operator.breaches(p.value, alarm.threshold);
    const breaching = periods.filter(isBreaching);
    // "How alarm state is evaluated when data is missing" (AlarmThatSendsEmail.html), e.g. for 3 of
    // 3: `- - X` is ALARM with `missing` but keeps the state with `ignore`; `0 - X` is OK with both;
    // `- - -` is INSUFFICIENT_DATA with `missing`.
    const missing = periods.length - present.length;
    const m = alarm.datapointsToAlarm;
    let value: AlarmStateValue;
    if (alarm.treatMissingData === 'missing') {
      if (present.length === 0) value = 'INSUFFICIENT_DATA';
      else value = breaching.length >= Math.min(m, present.length) ? 'ALARM' : 'OK';
    } else if (alarm.treatMissingData === 'ignore') {
      if (breaching.length >= m) value = 'ALARM';
      else if (present.length > 0 && breaching.length + missing < m) value = 'OK';
      else return; // undecided: the alarm keeps its state
    } else {
      value = breaching.length >= m ? 'ALARM' : 'OK';
    }
    if (value === alarm.state.value) return;
    const previous = alarm.state.value;
    const recent = [...present].reverse();
    const listed = (value === 'ALARM' ? recent.filter(isBreaching) : recent).slice(
      0,
      alarm.evaluationPeriods,
    );
    const list = listed.map((p) => `${javaDouble(p.value ?? 0)} (${shortDate(p.start)})`).join(', ');
    const reason =
      value === 'INSUFFICIENT_DATA'
        ? `Insufficient Data: ${alarm.evaluationPeriods} datapoint${alarm.evaluationPeriods === 1 ? ' was' : 's were'} unknown.`
        : `Threshold Crossed: ${listed.length} out of the last ${alarm.evaluationPeriods} datapoints [${list}] was ${value === 'ALARM' ? '' : 'not '}${operator.phrase} the threshold (${javaDouble(alarm.threshold)}) (minimum ${alarm.datapointsToAlarm} datapoint${alarm.datapointsToAlarm === 1 ? '' : 's'} for ${previous} -> ${value} transition).`;
    const reasonData = JSON.stringify({
      version: '1.0',
      queryDate: awsDate(tick),
      startDate: awsDate(end - alarm.evaluationPeriods * step),
      ...(alarm.statistic ? { statistic: alarm.statistic } : { unit: alarm.unit ?? null }),
      period: alarm.period,
      recentDatapoints: recent.map((p) => p.value),
      threshold: alarm.threshold,
      evaluatedDatapoints: recent.map((p) => ({
        timestamp: awsDate(p.start),
        sampleCount: p.count,
        value: p.value,
      })),
    });
    this.transition(alarm, { value, reason, reasonData, timestamp: tick });
  }

  private transition(alarm: Alarm, state: AlarmState): void {
    const previous = alarm.state;
    alarm.state = state;
    if (previous.value === state.value) return; // SetAlarmState to the same state: no transition
    alarm.stateTransitioned = state.timestamp;
    const detail = {
      alarmName: alarm.name,
      state: eventState(state),
      previousState: eventState(previous),
      configuration: {
        ...(alarm.description !== undefined ? { description: alarm.description } : {}),
        metrics: [
          {
            id: alarm.metricId,
            metricStat: {
              metric: {
                namespace: alarm.namespace,
                name: alarm.metricName,
                dimensions: Object.fromEntries(alarm.dimensions.map((d) => [d.Name ?? '', d.Value ?? ''])),
              },
              period: alarm.period,
              stat: alarm.statistic ?? alarm.extendedStatistic ?? 'Average',
            },
            returnData: true,
          },
        ],
      },
    };
    this.cloud.events.put(
      'aws.cloudwatch',
      'CloudWatch Alarm State Change',
      detail,
      [alarm.arn],
      state.timestamp,
    );
    if (!alarm.actionsEnabled) return;
    const actions =
      state.value === 'ALARM'
        ? alarm.alarmActions
        : state.value === 'OK'
          ? alarm.okActions
          : alarm.insufficientDataActions;
    for (const action of actions) {
      this.invokedActions.push({ alarmName: alarm.name, action, state: state.value, at: state.timestamp });
      // "CloudWatch alarms guarantees an asynchronous invocation of the Lambda function for a given
      // state change" (Invoke a Lambda function from an alarm); the payload carries the same state
      // (and state timestamp) as the EventBridge event.
      if (LAMBDA_ACTION.test(action)) {
        this.lambdaQueue.push({
          functionArn: action,
          payload: {
            source: 'aws.cloudwatch',
            alarmArn: alarm.arn,
            accountId: this.cloud.account,
            time: awsDate(state.timestamp),
            region: this.cloud.region,
            alarmData: detail,
          },
        });
      }
    }
  }

  private describe(a: Alarm): MetricAlarm {
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

  private page<T>(items: T[], max: number, token: string | undefined): { page: T[]; nextToken?: string } {
    try {
      return paginate(items, max, token, { min: 1, max: 100, parameter: 'MaxRecords' });
    } catch (error) {
      if (error instanceof Error && error.name === 'InvalidNextToken')
        throw fail('InvalidNextToken', 'The service returned an invalid NextToken.');
      throw error;
    }
  }
}

function eventState(s: AlarmState): Record<string, unknown> {
  return {
    value: s.value,
    reason: s.reason,
    ...(s.reasonData !== undefined ? { reasonData: s.reasonData } : {}),
    timestamp: awsDate(s.timestamp),
  };
}

/** Index of the first datapoint at or after `t` (points sorted by timestamp). */
function lowerBound(points: Datapoint[], t: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid]?.timestamp ?? Infinity) < t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/** Index of the first datapoint after `t`. */
function upperBound(points: Datapoint[], t: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid]?.timestamp ?? Infinity) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

function metricKey(namespace: string, name: string, dimensions: Dimension[]): string {
  const dims = dimensions
    .map((d) => `${d.Name ?? ''}=${d.Value ?? ''}`)
    .sort()
    .join(',');
  return `${namespace}\u0000${name}\u0000${dims}`;
}

function aggregate(points: Datapoint[], stat: string): number {
  const count = points.reduce((n, p) => n + p.count, 0);
  const sum = points.reduce((n, p) => n + p.sum, 0);
  switch (stat) {
    case 'SampleCount':
      return count;
    case 'Sum':
      return sum;
    case 'Minimum':
      return Math.min(...points.map((p) => p.min));
    case 'Maximum':
      return Math.max(...points.map((p) => p.max));
    case 'Average':
      return count === 0 ? 0 : sum / count;
    default: {
      // pNN over the raw values (datapoints given as StatisticValues contribute their maximum)
      const p = Number(stat.slice(1));
      const values = points.flatMap((x) => (x.values.length ? x.values : [x.max])).sort((a, b) => a - b);
      const index = Math.min(values.length - 1, Math.max(0, Math.ceil((p / 100) * values.length) - 1));
      return values[index] ?? 0;
    }
  }
}

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined || value === null || value === '') {
    throw validation(
      `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

/** Input validation errors surface as the query protocol's `ValidationError`. */
function validation(message: string) {
  return fail('ValidationError', message);
}

function toMs(value: unknown): number {
  // Dates may come from another realm (the transport structuredClones every input).
  if (value && typeof value === 'object' && typeof (value as Date).getTime === 'function')
    return (value as Date).getTime();
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  if (typeof value === 'string') return Date.parse(value);
  throw validation('Invalid timestamp.');
}

/** CloudWatch's timestamps in events and reason data: `2019-10-02T17:04:40.985+0000`. */
export function awsDate(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/** `21/11/26 00:01:00`, as in the reason of a threshold crossing. */
function shortDate(ms: number): string {
  const d = new Date(ms).toISOString();
  return `${d.slice(8, 10)}/${d.slice(5, 7)}/${d.slice(2, 4)} ${d.slice(11, 19)}`;
}

/** Numbers as Java prints a double (`95.0`, `0.5`). */
function javaDouble(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}

// ---- metric math ------------------------------------------------------------------------------
// "Metric math syntax and functions" (CloudWatch user guide, using-metric-math.html): arithmetic
// (+ - * /), comparisons (== != < > <= >=, 1 when true, 0 when false), IF(condition, trueValue,
// falseValue) ("returns trueValue where condition is non-zero, else falseValue", point by point)
// and RATE(m) ("the rate of change of the metric per second: the difference between the latest
// datapoint value and the previous datapoint value, divided by the time difference in seconds
// between the two values"). Only these are modelled; any other function is refused at
// PutMetricAlarm, as AWS refuses an expression it cannot parse.
// PutMetricAlarm (API reference): Metrics is "an array of MetricDataQuery structures ... each
// item must either retrieve a metric or perform a math expression"; exactly one returns data
// (ReturnData true), and Namespace, MetricName, Dimensions, Period, Statistic must not be given
// with Metrics.

/** Periods before the alarm's window that an expression may read (RATE's previous value). */
const MATH_LOOKBACK_PERIODS = 5;

type MathNode =
  | { kind: 'number'; value: number }
  | { kind: 'id'; name: string }
  | { kind: 'binary'; op: string; left: MathNode; right: MathNode }
  | { kind: 'negate'; operand: MathNode }
  | { kind: 'call'; name: 'RATE' | 'IF'; args: MathNode[] };

interface Series {
  /** Period start times (seconds). */
  times: number[];
  values: Record<string, (number | undefined)[]>;
}

const MATH_FUNCTIONS: Record<string, number> = { RATE: 1, IF: 3 };

/** Parses a metric math expression; throws ValidationError naming what it cannot read. */
function parseMath(text: string, ids: readonly string[]): MathNode {
  const tokens =
    text.match(/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*|==|!=|<=|>=|[-+*/(),<>]|\S/g) ?? [];
  let at = 0;
  const bad = (why: string) =>
    fail('ValidationError', `Invalid metrics list: the expression "${text}" cannot be parsed: ${why}.`);
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const t = tokens[at++];
    if (t === undefined || (expected !== undefined && t !== expected))
      throw bad(`expected ${expected ?? 'more'} at token ${at}`);
    return t;
  };
  const comparison = (): MathNode => {
    const left = additive();
    const op = peek();
    if (op && ['==', '!=', '<', '>', '<=', '>='].includes(op)) {
      take();
      return { kind: 'binary', op, left, right: additive() };
    }
    return left;
  };
  const additive = (): MathNode => {
    let node = term();
    while (peek() === '+' || peek() === '-') node = { kind: 'binary', op: take(), left: node, right: term() };
    return node;
  };
  const term = (): MathNode => {
    let node = unary();
    while (peek() === '*' || peek() === '/')
      node = { kind: 'binary', op: take(), left: node, right: unary() };
    return node;
  };
  const unary = (): MathNode => {
    if (peek() === '-') {
      take();
      return { kind: 'negate', operand: unary() };
    }
    return primary();
  };
  const primary = (): MathNode => {
    const t = take();
    if (t === '(') {
      const inner = comparison();
      take(')');
      return inner;
    }
    if (/^\d/.test(t)) return { kind: 'number', value: Number(t) };
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        const arity = MATH_FUNCTIONS[t];
        if (arity === undefined) throw bad(`the function ${t} is not modelled by the local cloud`);
        take('(');
        const args: MathNode[] = [comparison()];
        while (peek() === ',') {
          take();
          args.push(comparison());
        }
        take(')');
        if (args.length !== arity) throw bad(`${t} takes ${arity} argument${arity > 1 ? 's' : ''}`);
        return { kind: 'call', name: t as 'RATE' | 'IF', args };
      }
      if (!ids.includes(t)) throw bad(`${t} is not the id of a query of this alarm`);
      return { kind: 'id', name: t };
    }
    throw bad(`unexpected "${t}"`);
  };
  const node = comparison();
  if (at !== tokens.length) throw bad(`unexpected "${tokens[at]}"`);
  return node;
}

/** The expression's value for every period of the series (undefined where it has none). */
function evaluateMath(node: MathNode, series: Series): (number | undefined)[] {
  const n = series.times.length;
  switch (node.kind) {
    case 'number':
      return Array.from({ length: n }, () => node.value);
    case 'id':
      return series.values[node.name] ?? Array.from({ length: n }, () => undefined);
    case 'negate':
      return evaluateMath(node.operand, series).map((v) => (v === undefined ? undefined : -v));
    case 'binary': {
      const left = evaluateMath(node.left, series);
      const right = evaluateMath(node.right, series);
      return left.map((a, i) => {
        const b = right[i];
        if (a === undefined || b === undefined) return undefined;
        switch (node.op) {
          case '+':
            return a + b;
          case '-':
            return a - b;
          case '*':
            return a * b;
          case '/':
            return b === 0 ? undefined : a / b;
          case '==':
            return a === b ? 1 : 0;
          case '!=':
            return a !== b ? 1 : 0;
          case '<':
            return a < b ? 1 : 0;
          case '>':
            return a > b ? 1 : 0;
          case '<=':
            return a <= b ? 1 : 0;
          default:
            return a >= b ? 1 : 0;
        }
      });
    }
    case 'call': {
      const args = node.args.map((a) => evaluateMath(a, series));
      if (node.name === 'IF') {
        const [condition = [], whenTrue = [], whenFalse = []] = args;
        return condition.map((c, i) => (c === undefined ? undefined : c !== 0 ? whenTrue[i] : whenFalse[i]));
      }
      // RATE: against the previous period that has a value.
      const values = args[0] ?? [];
      return values.map((v, i) => {
        if (v === undefined) return undefined;
        for (let j = i - 1; j >= 0; j--) {
          const before = values[j];
          const dt = (series.times[i] ?? 0) - (series.times[j] ?? 0);
          if (before !== undefined && dt > 0) return (v - before) / dt;
        }
        return undefined;
      });
    }
  }
}

/** Checks a metric math alarm's queries (one MetricStat, one expression returning data). */
function mathAlarm(input: PutMetricAlarmInput): {
  namespace: string;
  metricName: string;
  dimensions: Dimension[];
  statistic: string;
  period: number;
  statId: string;
  expression: MathNode;
} {
  for (const field of [
    'Namespace',
    'MetricName',
    'Dimensions',
    'Period',
    'Statistic',
    'ExtendedStatistic',
  ] as const) {
    if (input[field] !== undefined)
      throw fail(
        'InvalidParameterCombinationException',
        `The parameters ${field} and Metrics are mutually exclusive; give the metric inside Metrics.`,
      );
  }
  const queries = input.Metrics ?? [];
  const returning = queries.filter((q) => q.ReturnData !== false);
  if (returning.length !== 1)
    throw fail(
      'ValidationError',
      'Invalid metrics list: exactly one element must have ReturnData set to true.',
    );
  const stats = queries.filter((q) => q.MetricStat);
  const expressions = queries.filter((q) => q.Expression);
  if (stats.length !== 1 || expressions.length !== 1 || queries.length !== 2)
    throw fail(
      'ValidationError',
      'Invalid metrics list: the local cloud models one MetricStat and one Expression per alarm.',
    );
  const stat = stats[0]?.MetricStat;
  const expression = expressions[0];
  if (
    !stat?.Metric?.Namespace ||
    !stat.Metric.MetricName ||
    stat.Period === undefined ||
    !stat.Stat ||
    !expression
  )
    throw fail(
      'ValidationError',
      'Invalid metrics list: a MetricStat needs Metric (Namespace, MetricName), Period and Stat.',
    );
  if (expression.ReturnData === false)
    throw fail(
      'ValidationError',
      'Invalid metrics list: the expression must be the element that returns data.',
    );
  const statId = stats[0]?.Id ?? '';
  return {
    namespace: stat.Metric.Namespace,
    metricName: stat.Metric.MetricName,
    dimensions: stat.Metric.Dimensions ?? [],
    statistic: stat.Stat,
    period: stat.Period,
    statId,
    expression: parseMath(expression.Expression ?? '', [statId]),
  };
}
