/**
 * The group's CloudWatch dashboard. Every berth metric it draws comes from the one table the
 * handlers emit from (lambdas/shared/metrics.ts): same namespace, name and `Group` dimension.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import type * as lambda from 'aws-cdk-lib/aws-lambda';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import { METRIC_DIMENSION, METRICS, type MetricKey } from '../lambdas/shared/metric-names';

/** Where berth's metrics live: the settings' namespace and the group's name. */
export interface MetricScope {
  readonly namespace: string;
  readonly groupName: string;
}

/**
 * One of berth's metrics as the handlers emit it (lambdas/shared/metrics.ts). No label for alarms:
 * a labelled metric makes CDK write the alarm in the metric-math form.
 */
export function berthMetric(
  scope: MetricScope,
  key: MetricKey,
  options: { statistic: string; period: Duration; label?: string },
): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: scope.namespace,
    metricName: METRICS[key].name,
    dimensionsMap: { [METRIC_DIMENSION]: scope.groupName },
    statistic: options.statistic,
    period: options.period,
    ...(options.label !== undefined ? { label: options.label } : {}),
  });
}

export interface GroupDashboardProps extends MetricScope {
  readonly dashboardName: string;
  /** Whether the group grows filesystems (the growth metrics exist). */
  readonly growth: boolean;
  readonly functions: Readonly<Record<string, lambda.IFunction>>;
  readonly deadLetterQueue: sqs.IQueue;
  /** The operator alarms, shown as a status row. */
  readonly alarms: readonly cloudwatch.IAlarm[];
}

/**
 * Builds the dashboard directly in `scope` under `id` (no wrapper construct: the dashboard keeps
 * its logical id, and a named dashboard must not be replaced).
 */
export function buildDashboard(
  scope: Construct,
  id: string,
  props: GroupDashboardProps,
): cloudwatch.Dashboard {
  const period = Duration.minutes(5);
  const m = (key: MetricKey, statistic: string, label: string) =>
    berthMetric(props, key, { statistic, period, label });
  const dashboard = new cloudwatch.Dashboard(scope, id, { dashboardName: props.dashboardName });
  if (props.alarms.length > 0) {
    dashboard.addWidgets(
      new cloudwatch.AlarmStatusWidget({ title: 'berth alarms', alarms: [...props.alarms], width: 24 }),
    );
  }
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Node sets',
      left: [
        m('freeSets', 'Minimum', 'free sets'),
        m('heldSets', 'Maximum', 'held sets (nodes)'),
        m('spares', 'Maximum', 'spares'),
        m('halfAttached', 'Maximum', 'half-attached sets'),
        m('badSets', 'Maximum', 'invalid sets'),
        m('heldElsewhere', 'Maximum', 'sets held outside the group'),
        m('unprepared', 'Maximum', 'holders not prepared'),
      ],
      width: props.growth ? 12 : 24,
    }),
    ...(props.growth
      ? [
          new cloudwatch.GraphWidget({
            title: 'Growth',
            left: [
              m('grows', 'Sum', 'grows'),
              m('growRefusals', 'Sum', 'refused grows'),
              m('growFailures', 'Sum', 'failed grows'),
              m('stuckDiskAlarms', 'Maximum', 'disk alarms stuck in ALARM'),
            ],
            width: 12,
          }),
        ]
      : []),
  );
  dashboard.addWidgets(
    new cloudwatch.GraphWidget({
      title: 'Errors',
      left: [
        m('launchesAbandoned', 'Sum', 'launches abandoned'),
        ...Object.entries(props.functions).map(([handler, fn]) =>
          fn.metricErrors({ period, label: `${handler} function errors` }),
        ),
      ],
      right: [
        props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period, label: 'dead letters' }),
      ],
      width: 24,
    }),
  );
  return dashboard;
}
