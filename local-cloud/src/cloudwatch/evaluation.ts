/** Alarm evaluation at each tick, state transitions, their events and alarm actions. */
import { MATH_LOOKBACK_PERIODS, evaluateMath, type Series } from './math';
import { aggregate, lowerBound } from './metrics';
import {
  LAMBDA_ACTION,
  OPERATORS,
  type Alarm,
  type AlarmState,
  type AlarmStateValue,
  type Datapoint,
} from './records';
import type { CloudWatchState } from './state';
import { awsDate, javaDouble, shortDate } from './values';

/** Evaluates every alarm at each evaluation tick up to now (called on every read of the model). */
export function evaluate(cw: CloudWatchState): void {
  const now = cw.cloud.clock.now();
  for (const alarm of cw.alarms.values()) {
    const step = alarm.period < 60 ? 10_000 : 60_000;
    const periodMs = alarm.period * 1000;
    const points = alarmPoints(cw, alarm);
    let tick = Math.floor(alarm.evaluatedAt / step) * step + step;
    if (tick > now) continue;
    while (tick <= now) {
      const end = Math.floor(tick / periodMs) * periodMs;
      // Ticks that see the same complete periods give the same answer, unless the alarm's state
      // was set by hand or data arrived since: those are skipped.
      if (end !== alarm.evaluatedEnd || alarm.dirty) {
        evaluateAt(cw, alarm, tick);
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

export function alarmPoints(cw: CloudWatchState, alarm: Alarm): Datapoint[] {
  return cw.metrics.get(alarm.metricKey) ?? [];
}

export function evaluateAt(cw: CloudWatchState, alarm: Alarm, tick: number): void {
  const step = alarm.period * 1000;
  const end = Math.floor(tick / step) * step;
  const points = alarmPoints(cw, alarm);
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
  const listed = (value === 'ALARM' ? recent.filter(isBreaching) : recent).slice(0, alarm.evaluationPeriods);
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
  transition(cw, alarm, { value, reason, reasonData, timestamp: tick });
}

export function transition(cw: CloudWatchState, alarm: Alarm, state: AlarmState): void {
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
  cw.cloud.events.put(
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
    cw.invokedActions.push({ alarmName: alarm.name, action, state: state.value, at: state.timestamp });
    // "CloudWatch alarms guarantees an asynchronous invocation of the Lambda function for a given
    // state change" (Invoke a Lambda function from an alarm); the payload carries the same state
    // (and state timestamp) as the EventBridge event.
    if (LAMBDA_ACTION.test(action)) {
      cw.lambdaQueue.push({
        functionArn: action,
        payload: {
          source: 'aws.cloudwatch',
          alarmArn: alarm.arn,
          accountId: cw.cloud.account,
          time: awsDate(state.timestamp),
          region: cw.cloud.region,
          alarmData: detail,
        },
      });
    }
  }
}

export function eventState(s: AlarmState): Record<string, unknown> {
  return {
    value: s.value,
    reason: s.reason,
    ...(s.reasonData !== undefined ? { reasonData: s.reasonData } : {}),
    timestamp: awsDate(s.timestamp),
  };
}
