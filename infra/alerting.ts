/**
 * The operator alarms of a group: one CloudWatch alarm per condition an operator must hear about.
 * They watch berth's own metrics (lambdas/shared/metrics.ts, through berthMetric) and the
 * dead-letter queue. Without a topic or actions they exist with no action (visible in the console
 * and on the dashboard); with them, each notifies on ALARM and on the way back to OK.
 */
import { Duration } from 'aws-cdk-lib';
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch';
import * as actions from 'aws-cdk-lib/aws-cloudwatch-actions';
import type * as sns from 'aws-cdk-lib/aws-sns';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import type { Construct } from 'constructs';
import type { MetricKey } from '../lambdas/shared/metric-names';
import { berthMetric, type MetricScope } from './dashboard';

/** The conditions berth alerts on. */
export type AlertName =
  | 'deadLetters'
  | 'badSets'
  | 'halfAttached'
  | 'growRefusals'
  | 'growFailures'
  | 'stuckDiskAlarms'
  | 'launchesAbandoned';

export interface AlertingProps extends MetricScope {
  /** Minutes between two reconciler runs: the gauges' period. */
  readonly reconcileMinutes: number;
  /** Whether the group grows filesystems (the growth alarms exist only then). */
  readonly growth: boolean;
  readonly deadLetterQueue: sqs.IQueue;
  /** Notified on ALARM and OK. @default - none */
  readonly topic?: sns.ITopic;
  /** Further actions on ALARM and OK. @default - none */
  readonly actions?: readonly cloudwatch.IAlarmAction[];
}

interface AlertSpec {
  readonly metric: cloudwatch.IMetric;
  readonly description: string;
  /** Consecutive periods the condition must hold. @default 1 */
  readonly periods?: number;
}

/**
 * Creates the alarms in `scope` (ids `<Name>Alarm`; the dead-letter alarm keeps its historical id
 * `DeadLettersAlarm`) and returns them by name.
 */
export function buildAlerts(
  scope: Construct,
  props: AlertingProps,
): Partial<Record<AlertName, cloudwatch.Alarm>> {
  const group = props.groupName;
  const gaugePeriod = Duration.minutes(props.reconcileMinutes);
  const countPeriod = Duration.minutes(5);
  const gauge = (key: MetricKey, statistic: string) =>
    berthMetric(props, key, { statistic, period: gaugePeriod });
  const count = (key: MetricKey) => berthMetric(props, key, { statistic: 'Sum', period: countPeriod });
  const specs: Partial<Record<AlertName, AlertSpec>> = {
    deadLetters: {
      metric: props.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: countPeriod }),
      description: `berth ${group}: an event or invocation failed every retry; see the dead-letter queue`,
    },
    badSets: {
      metric: gauge('badSets', 'Maximum'),
      description: `berth ${group}: a NodeID's resources do not form a valid set (the reconciler logs "node set skipped: bad data" with the reason); fix the tags or the AZ`,
    },
    halfAttached: {
      // Counted at the start of each run: a set seen at two runs in a row survived a heal.
      metric: gauge('halfAttached', 'Minimum'),
      periods: 2,
      description: `berth ${group}: a set stayed half-attached past a reconcile run; see the reconcile function's log (skipped/errors)`,
    },
    launchesAbandoned: {
      metric: count('launchesAbandoned'),
      description: `berth ${group}: a launch was abandoned (no free set with whenNoSetFree=abandon, or a failure); see the launch function's log`,
    },
  };
  if (props.growth) {
    specs.growRefusals = {
      metric: count('growRefusals'),
      description: `berth ${group}: a grow was refused by the policy (limit, cooldown, attachment limit); the reason is in the EMF line and the grow log`,
    };
    specs.growFailures = {
      metric: count('growFailures'),
      description: `berth ${group}: a grow failed with an error; see the grow function's log`,
    };
    specs.stuckDiskAlarms = {
      metric: gauge('stuckDiskAlarms', 'Maximum'),
      description: `berth ${group}: a disk alarm stayed in ALARM after its grow should have landed (the reconciler re-armed it)`,
    };
  }
  const alarmActions = [
    ...(props.topic ? [new actions.SnsAction(props.topic)] : []),
    ...(props.actions ?? []),
  ];
  const out: Partial<Record<AlertName, cloudwatch.Alarm>> = {};
  for (const [name, spec] of Object.entries(specs) as [AlertName, AlertSpec][]) {
    const id = `${name.charAt(0).toUpperCase()}${name.slice(1)}Alarm`;
    const alarm = new cloudwatch.Alarm(scope, id, {
      alarmDescription: spec.description,
      metric: spec.metric,
      threshold: 1,
      evaluationPeriods: spec.periods ?? 1,
      datapointsToAlarm: spec.periods ?? 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No datapoint means nothing happened (counts) or no run yet (gauges): not an alert.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    for (const action of alarmActions) {
      alarm.addAlarmAction(action);
      alarm.addOkAction(action);
    }
    out[name] = alarm;
  }
  return out;
}
