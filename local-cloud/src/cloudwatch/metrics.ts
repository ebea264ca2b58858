/** The metric store: PutMetricData, GetMetricStatistics, GetMetricData and the datapoint lookups. */
import type {
  Dimension,
  GetMetricDataInput,
  GetMetricStatisticsInput,
  PutMetricDataInput,
} from '@aws-sdk/client-cloudwatch';
import { fail } from '../errors';
import type { Datapoint, Statistic } from './records';
import type { CloudWatchState } from './state';
import { required, toMs, validation } from './values';

export function putMetricData(cw: CloudWatchState, input: PutMetricDataInput): unknown {
  const namespace = required(input.Namespace, 'namespace');
  if (namespace.startsWith('AWS/')) {
    throw fail('InvalidParameterValueException', 'The value AWS/ for parameter Namespace is invalid.');
  }
  const data = input.MetricData ?? [];
  if (data.length > 1000) throw validation('At most 1000 metrics can be put in one request.');
  const now = cw.cloud.clock.now();
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
    const list = cw.metrics.get(key) ?? [];
    // Kept sorted by timestamp (evaluation looks windows up by binary search).
    for (const point of points) list.splice(upperBound(list, point.timestamp), 0, point);
    cw.metrics.set(key, list);
    touched.add(key);
  }
  for (const alarm of cw.alarms.values()) if (touched.has(alarm.metricKey)) alarm.dirty = true;
  return {};
}

export function getMetricStatistics(cw: CloudWatchState, input: GetMetricStatisticsInput): unknown {
  const namespace = required(input.Namespace, 'namespace');
  const metricName = required(input.MetricName, 'metricName');
  const period = required(input.Period, 'period');
  const start = toMs(required(input.StartTime, 'startTime'));
  const end = toMs(required(input.EndTime, 'endTime'));
  const statistics = (input.Statistics ?? []) as Statistic[];
  const points = cw.metrics.get(metricKey(namespace, metricName, input.Dimensions ?? [])) ?? [];
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
export function getMetricData(cw: CloudWatchState, input: GetMetricDataInput): unknown {
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
      cw.metrics.get(
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

/** Index of the first datapoint at or after `t` (points sorted by timestamp). */
export function lowerBound(points: Datapoint[], t: number): number {
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
export function upperBound(points: Datapoint[], t: number): number {
  let lo = 0;
  let hi = points.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((points[mid]?.timestamp ?? Infinity) <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

export function metricKey(namespace: string, name: string, dimensions: Dimension[]): string {
  const dims = dimensions
    .map((d) => `${d.Name ?? ''}=${d.Value ?? ''}`)
    .sort()
    .join(',');
  return `${namespace}\u0000${name}\u0000${dims}`;
}

export function aggregate(points: Datapoint[], stat: string): number {
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
