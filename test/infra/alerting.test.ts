import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import * as sns from 'aws-cdk-lib/aws-sns';
import { StatefulNodeGroup, type StatefulNodeGroupProps } from '../../infra/stateful-node-group';

type Props = Omit<StatefulNodeGroupProps, 'autoScalingGroup'>;
interface AlarmProps {
  AlarmDescription: string;
  AlarmActions?: unknown[];
  OKActions?: unknown[];
  EvaluationPeriods: number;
  DatapointsToAlarm: number;
  Threshold: number;
  TreatMissingData: string;
  MetricName?: string;
  Metrics?: { MetricStat: { Metric: { MetricName: string }; Period: number; Stat: string } }[];
  Period?: number;
}

/** The group's operator alarms, by metric name. */
function synth(props: Props): Record<string, AlarmProps> {
  const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
  const stack = new Stack(app, 'Alerting', { env: { account: '111111111111', region: 'eu-west-1' } });
  const topic = new sns.Topic(stack, 'Pager');
  new StatefulNodeGroup(stack, 'Berth', {
    autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', 'etcd'),
    filters: 'Service=etcd',
    ...props,
    ...(props.alertTopic === undefined && 'alertTopic' in props ? { alertTopic: topic } : {}),
  });
  const alarms = Template.fromStack(stack).findResources('AWS::CloudWatch::Alarm');
  return Object.fromEntries(
    Object.values(alarms).map((r) => {
      const p = r.Properties as AlarmProps;
      return [p.MetricName ?? p.Metrics?.[0]?.MetricStat.Metric.MetricName ?? '?', p];
    }),
  );
}

describe('operator alerting', () => {
  it('creates one alarm per condition, with no action by default', () => {
    const alarms = synth({ growth: {} });
    expect(Object.keys(alarms).sort()).toEqual([
      'ApproximateNumberOfMessagesVisible',
      'BadSets',
      'GrowFailures',
      'GrowRefusals',
      'HalfAttached',
      'LaunchesAbandoned',
      'StuckDiskAlarms',
    ]);
    for (const alarm of Object.values(alarms)) {
      expect(alarm.AlarmActions).toBeUndefined();
      expect(alarm.OKActions).toBeUndefined();
      expect(alarm).toMatchObject({ Threshold: 1, TreatMissingData: 'notBreaching' });
    }
  });

  it('notifies the topic on ALARM and on OK from every alarm', () => {
    const alarms = synth({ growth: {}, alertTopic: undefined });
    for (const alarm of Object.values(alarms)) {
      expect(alarm.AlarmActions).toEqual([{ Ref: expect.stringMatching(/^Pager/) }]);
      expect(alarm.OKActions).toEqual([{ Ref: expect.stringMatching(/^Pager/) }]);
    }
  });

  it('calls a set half-attached only when two reconcile runs in a row saw it', () => {
    const { HalfAttached } = synth({ reconcileEveryMinutes: 10 });
    expect(HalfAttached).toMatchObject({ EvaluationPeriods: 2, DatapointsToAlarm: 2 });
    expect(HalfAttached?.Metrics?.[0]?.MetricStat ?? { Period: HalfAttached?.Period }).toMatchObject({
      Period: 600,
    });
  });

  it('has no growth alarms in a group that does not grow', () => {
    const alarms = synth({ growth: null });
    expect(Object.keys(alarms)).not.toContain('GrowRefusals');
    expect(Object.keys(alarms)).not.toContain('GrowFailures');
    expect(Object.keys(alarms)).not.toContain('StuckDiskAlarms');
    expect(Object.keys(alarms)).toContain('BadSets');
  });
});
