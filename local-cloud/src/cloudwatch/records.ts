/** The CloudWatch model's records, the values it accepts and the shapes it hands out. */
import type { Dimension, MetricDataQuery, Tag } from '@aws-sdk/client-cloudwatch';
import type { MathNode } from './math';

export type AlarmStateValue = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export const STATISTICS = ['SampleCount', 'Average', 'Sum', 'Minimum', 'Maximum'] as const;

export type Statistic = (typeof STATISTICS)[number];

export const OPERATORS: Record<
  string,
  { phrase: string; breaches: (value: number, threshold: number) => boolean }
> = {
  GreaterThanThreshold: { phrase: 'greater than', breaches: (v, t) => v > t },
  GreaterThanOrEqualToThreshold: { phrase: 'greater than or equal to', breaches: (v, t) => v >= t },
  LessThanThreshold: { phrase: 'less than', breaches: (v, t) => v < t },
  LessThanOrEqualToThreshold: { phrase: 'less than or equal to', breaches: (v, t) => v <= t },
};

export const TREAT_MISSING = ['missing', 'ignore', 'breaching', 'notBreaching'] as const;

export type TreatMissing = (typeof TREAT_MISSING)[number];

export interface AlarmState {
  value: AlarmStateValue;
  reason: string;
  reasonData?: string;
  timestamp: number;
}

export interface Alarm {
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

export interface Datapoint {
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
export const ACTION_ARN =
  /^arn:aws[a-z-]{0,16}:(?:sns:[a-z0-9-]{1,32}:\d{12}:[A-Za-z0-9_-]{1,256}|lambda:[a-z0-9-]{1,32}:\d{12}:function:[A-Za-z0-9_-]{1,64}(?::[A-Za-z0-9$_-]{1,128})?|automate:[a-z0-9-]{1,32}:ec2:(?:stop|terminate|reboot|recover)|autoscaling:.{1,1500}|ssm:.{1,1500}|ssm-incidents:.{1,1500}|aiops:.{1,1500})$/;

export const LAMBDA_ACTION = /^arn:aws[a-z-]{0,16}:lambda:/;
