import {
  DescribeAlarmsCommand,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  type CloudWatchClient,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { TIME_TO_FULL_EXPRESSION } from '../../lambdas/shared/alarm-names';
import { LocalCloud } from '../src/index';

const DIMENSIONS = [
  { Name: 'InstanceId', Value: 'i-0123456789abcdef0' },
  { Name: 'path', Value: '/data' },
  { Name: 'fstype', Value: 'btrfs' },
];

/** An alarm on the projected seconds to full, as berth's predictive growth creates it. */
function timeToFull(name: string, expression = TIME_TO_FULL_EXPRESSION): PutMetricAlarmCommandInput {
  return {
    AlarmName: name,
    Metrics: [
      {
        Id: 'm1',
        MetricStat: {
          Metric: { Namespace: 'CWAgent', MetricName: 'disk_used_percent', Dimensions: DIMENSIONS },
          Period: 60,
          Stat: 'Maximum',
        },
        ReturnData: false,
      },
      { Id: 'e1', Expression: expression, ReturnData: true },
    ],
    EvaluationPeriods: 1,
    Threshold: 600,
    ComparisonOperator: 'LessThanThreshold',
  };
}

async function put(cloudWatch: CloudWatchClient, value: number): Promise<void> {
  await cloudWatch.send(
    new PutMetricDataCommand({
      Namespace: 'CWAgent',
      MetricData: [{ MetricName: 'disk_used_percent', Dimensions: DIMENSIONS, Value: value }],
    }),
  );
}

async function state(cloudWatch: CloudWatchClient, name: string) {
  const out = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
  return out.MetricAlarms?.[0];
}

describe('the local CloudWatch: metric math alarms (RATE, IF, arithmetic, comparisons)', () => {
  it('alarms when (100 - m1) / RATE(m1) falls below the threshold, and not while the disk is flat or shrinking', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(timeToFull('eta')));
    const states: (string | undefined)[] = [];
    // Flat at 20 %, shrinking, then rising 6 % a minute (0.1 %/s): at 38 %, 620 s to full; at 44 %, 560 s.
    for (const value of [20, 20, 18, 20, 26, 32, 38, 44]) {
      await put(cloudWatch, value);
      cloud.clock.advance(60_000);
      states.push((await state(cloudWatch, 'eta'))?.StateValue);
    }
    expect(states).toEqual(['INSUFFICIENT_DATA', 'OK', 'OK', 'OK', 'OK', 'OK', 'OK', 'ALARM']);
    const alarm = await state(cloudWatch, 'eta');
    // Described with its queries, without a single metric's fields.
    expect(alarm?.Metrics?.map((m) => m.Id)).toEqual(['m1', 'e1']);
    expect(alarm?.MetricName).toBeUndefined();
    expect(JSON.parse(alarm?.StateReasonData ?? '{}').recentDatapoints).toEqual([560]);
  });

  it.each([
    ['an unknown function', timeToFull('x', 'ANOMALY(m1)'), 'the function ANOMALY is not modelled'],
    ['an unknown id', timeToFull('x', '(100 - m9) / RATE(m9)'), 'm9 is not the id of a query of this alarm'],
    ['IF with two arguments', timeToFull('x', 'IF(m1 > 0, m1)'), 'IF takes 3 arguments'],
    [
      'Namespace beside Metrics',
      { ...timeToFull('x'), Namespace: 'CWAgent' },
      'Namespace and Metrics are mutually exclusive',
    ],
    [
      'two queries returning data',
      { ...timeToFull('x'), Metrics: timeToFull('x').Metrics?.map((m) => ({ ...m, ReturnData: true })) },
      'exactly one element must have ReturnData set to true',
    ],
  ])('refuses %s', async (_what, input, message) => {
    const { cloudWatch } = new LocalCloud().clients();
    await expect(cloudWatch.send(new PutMetricAlarmCommand(input))).rejects.toThrow(message);
  });
});
