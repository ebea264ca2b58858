import {
  CloudWatchServiceException,
  DeleteAlarmsCommand,
  DescribeAlarmsCommand,
  GetMetricDataCommand,
  GetMetricStatisticsCommand,
  InvalidNextToken,
  PutMetricAlarmCommand,
  PutMetricDataCommand,
  ResourceNotFound,
  SetAlarmStateCommand,
  type CloudWatchClient,
  type DescribeAlarmsCommandInput,
  type PutMetricAlarmCommandInput,
} from '@aws-sdk/client-cloudwatch';
import { LocalCloud } from '../src/index';

const DIMENSIONS = [
  { Name: 'InstanceId', Value: 'i-0123456789abcdef0' },
  { Name: 'path', Value: '/data' },
  { Name: 'fstype', Value: 'btrfs' },
];

function diskAlarm(
  name: string,
  overrides: Partial<PutMetricAlarmCommandInput> = {},
): PutMetricAlarmCommandInput {
  return {
    AlarmName: name,
    AlarmDescription: 'disk nearly full',
    Namespace: 'CWAgent',
    MetricName: 'disk_used_percent',
    Dimensions: DIMENSIONS,
    Statistic: 'Maximum',
    Period: 60,
    EvaluationPeriods: 1,
    Threshold: 80,
    ComparisonOperator: 'GreaterThanThreshold',
    AlarmActions: ['arn:aws:sns:eu-west-1:111111111111:grow'],
    Tags: [{ Key: 'berth:group', Value: 'etcd' }],
    ...overrides,
  };
}

async function putDiskUsage(cloudWatch: CloudWatchClient, value: number): Promise<void> {
  await cloudWatch.send(
    new PutMetricDataCommand({
      Namespace: 'CWAgent',
      MetricData: [{ MetricName: 'disk_used_percent', Dimensions: DIMENSIONS, Value: value }],
    }),
  );
}

async function stateOf(cloudWatch: CloudWatchClient, name: string): Promise<string | undefined> {
  const out = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
  return out.MetricAlarms?.[0]?.StateValue;
}

describe('the local CloudWatch', () => {
  it('starts an alarm in INSUFFICIENT_DATA and describes its configuration', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    // Act
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a')));
    const out = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: ['disk-a'] }));
    // Assess
    const alarm = out.MetricAlarms?.[0];
    expect(alarm).toMatchObject({
      AlarmName: 'disk-a',
      AlarmArn: 'arn:aws:cloudwatch:eu-west-1:111111111111:alarm:disk-a',
      StateValue: 'INSUFFICIENT_DATA',
      Namespace: 'CWAgent',
      MetricName: 'disk_used_percent',
      Period: 60,
      EvaluationPeriods: 1,
      DatapointsToAlarm: 1,
      Threshold: 80,
      TreatMissingData: 'missing',
    });
    expect(alarm?.StateUpdatedTimestamp?.getTime()).toBe(cloud.clock.now());
  });

  it('goes to ALARM once a breaching datapoint has a complete period, and emits the state change event', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a')));
    // Act
    await putDiskUsage(cloudWatch, 93.5);
    const before = await stateOf(cloudWatch, 'disk-a');
    cloud.clock.advance(60_000);
    const after = await stateOf(cloudWatch, 'disk-a');
    const events = cloud.events.drain('CloudWatch Alarm State Change');
    // Assess
    expect(before).toBe('INSUFFICIENT_DATA');
    expect(after).toBe('ALARM');
    expect(events).toHaveLength(1);
    const event = events[0]!;
    expect(event.source).toBe('aws.cloudwatch');
    expect(event.resources).toEqual(['arn:aws:cloudwatch:eu-west-1:111111111111:alarm:disk-a']);
    expect(event.detail).toEqual({
      alarmName: 'disk-a',
      state: {
        value: 'ALARM',
        reason: expect.stringMatching(
          /^Threshold Crossed: 1 out of the last 1 datapoints \[93\.5 \(21\/11\/26 00:00:00\)\] was greater than the threshold \(80\.0\) \(minimum 1 datapoint for INSUFFICIENT_DATA -> ALARM transition\)\.$/,
        ),
        reasonData: expect.any(String),
        timestamp: '2026-11-21T00:01:00.000+0000',
      },
      previousState: {
        value: 'INSUFFICIENT_DATA',
        reason: 'Unchecked: Initial alarm creation',
        timestamp: '2026-11-21T00:00:00.000+0000',
      },
      configuration: {
        description: 'disk nearly full',
        metrics: [
          {
            id: expect.any(String),
            metricStat: {
              metric: {
                namespace: 'CWAgent',
                name: 'disk_used_percent',
                dimensions: { InstanceId: 'i-0123456789abcdef0', path: '/data', fstype: 'btrfs' },
              },
              period: 60,
              stat: 'Maximum',
            },
            returnData: true,
          },
        ],
      },
    });
    const reasonData = JSON.parse((event.detail.state as { reasonData: string }).reasonData) as Record<
      string,
      unknown
    >;
    expect(reasonData).toMatchObject({
      version: '1.0',
      statistic: 'Maximum',
      period: 60,
      recentDatapoints: [93.5],
      threshold: 80,
    });
    expect(cloud.cloudwatch.invokedActions).toEqual([
      expect.objectContaining({
        alarmName: 'disk-a',
        action: 'arn:aws:sns:eu-west-1:111111111111:grow',
        state: 'ALARM',
      }),
    ]);
  });

  it('needs DatapointsToAlarm of EvaluationPeriods breaching, and returns to OK when the data does', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(
      new PutMetricAlarmCommand(diskAlarm('disk-m-of-n', { EvaluationPeriods: 3, DatapointsToAlarm: 2 })),
    );
    // Act: one breaching minute in three is not enough, two are
    const states: (string | undefined)[] = [];
    for (const value of [50, 50, 90, 50, 91, 40, 40]) {
      await putDiskUsage(cloudWatch, value);
      cloud.clock.advance(60_000);
      states.push(await stateOf(cloudWatch, 'disk-m-of-n'));
    }
    // Assess
    expect(states).toEqual(['OK', 'OK', 'OK', 'OK', 'ALARM', 'OK', 'OK']);
    const transitions = cloud.events.drain().map((e) => (e.detail.state as { value: string }).value);
    expect(transitions).toEqual(['OK', 'ALARM', 'OK']);
  });

  it('acts on transitions only: SetAlarmState OK re-arms an alarm whose data still breaches', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a')));
    await putDiskUsage(cloudWatch, 95);
    cloud.clock.advance(60_000);
    await putDiskUsage(cloudWatch, 96);
    cloud.clock.advance(60_000);
    const first = cloud.events.drain();
    // Act
    await cloudWatch.send(
      new SetAlarmStateCommand({ AlarmName: 'disk-a', StateValue: 'OK', StateReason: 'grown, re-arm' }),
    );
    const afterSet = cloud.events.drain();
    await putDiskUsage(cloudWatch, 97);
    cloud.clock.advance(60_000);
    const afterEvaluation = cloud.events.drain();
    // Assess: one event for the first crossing (still breaching the next minute: no event)
    expect(first).toHaveLength(1);
    expect(afterSet.map((e) => e.detail.state)).toEqual([
      { value: 'OK', reason: 'grown, re-arm', timestamp: '2026-11-21T00:02:00.000+0000' },
    ]);
    expect(afterEvaluation.map((e) => (e.detail.state as { value: string }).value)).toEqual(['ALARM']);
  });

  it('goes to INSUFFICIENT_DATA once the data has left the evaluation range, cheaply across a long clock jump', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a', { EvaluationPeriods: 3 })));
    await putDiskUsage(cloudWatch, 99);
    // Act
    const started = Date.now();
    cloud.clock.advance(30 * 86_400_000);
    const state = await stateOf(cloudWatch, 'disk-a');
    const realMs = Date.now() - started;
    // Assess
    expect(state).toBe('INSUFFICIENT_DATA');
    // Each event carries the time of its transition, though the model settled both at once.
    expect(cloud.events.drain().map((e) => [(e.detail.state as { value: string }).value, e.time])).toEqual([
      ['ALARM', '2026-11-21T00:01:00Z'],
      ['INSUFFICIENT_DATA', '2026-11-21T00:04:00Z'],
    ]);
    expect(realMs).toBeLessThan(1_000);
  });

  it.each([
    ['missing', 'ALARM'],
    ['ignore', 'INSUFFICIENT_DATA'],
    ['notBreaching', 'OK'],
  ] as const)(
    'evaluates "- - X" of 3 with TreatMissingData %s as %s (AWS missing-data table)',
    async (treat, expected) => {
      const cloud = new LocalCloud();
      const { cloudWatch } = cloud.clients();
      await cloudWatch.send(
        new PutMetricAlarmCommand(diskAlarm('disk-a', { EvaluationPeriods: 3, TreatMissingData: treat })),
      );
      await putDiskUsage(cloudWatch, 99);
      cloud.clock.advance(60_000);
      expect(await stateOf(cloudWatch, 'disk-a')).toBe(expected);
    },
  );

  it('treats missing data as breaching when told to', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a', { TreatMissingData: 'breaching' })));
    cloud.clock.advance(60_000);
    expect(await stateOf(cloudWatch, 'disk-a')).toBe('ALARM');
  });

  it('evaluates high-resolution periods every 10 seconds', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-fast', { Period: 10 })));
    await cloudWatch.send(
      new PutMetricDataCommand({
        Namespace: 'CWAgent',
        MetricData: [
          { MetricName: 'disk_used_percent', Dimensions: DIMENSIONS, Value: 95, StorageResolution: 1 },
        ],
      }),
    );
    cloud.clock.advance(10_000);
    expect(await stateOf(cloudWatch, 'disk-fast')).toBe('ALARM');
  });

  it('emits the state change event even with ActionsEnabled false, but takes no action', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a', { ActionsEnabled: false })));
    await putDiskUsage(cloudWatch, 99);
    cloud.clock.advance(60_000);
    expect(cloud.events.drain('CloudWatch Alarm State Change')).toHaveLength(1);
    expect(cloud.cloudwatch.invokedActions).toEqual([]);
  });

  it('rejects SetAlarmState on an unknown alarm with ResourceNotFound', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    const error = await cloudWatch
      .send(new SetAlarmStateCommand({ AlarmName: 'nope', StateValue: 'OK', StateReason: 'x' }))
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ResourceNotFound);
  });

  it.each([45, 0, 90, 121])('rejects a Period of %i seconds', async (period) => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    // Act
    const error = await cloudWatch
      .send(new PutMetricAlarmCommand(diskAlarm('bad', { Period: period })))
      .catch((e: unknown) => e);
    // Assess
    expect(error).toBeInstanceOf(CloudWatchServiceException);
    expect((error as Error).name).toBe('ValidationError');
    expect((error as Error).message).toMatch(/Period must be 10, 30 or a multiple of 60/);
  });

  it.each([10, 30, 60, 300])('accepts a Period of %i seconds', async (period) => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('ok', { Period: period })));
    expect(cloud.cloudwatch.alarmNames()).toEqual(['ok']);
  });

  it('rejects DatapointsToAlarm above EvaluationPeriods, zero EvaluationPeriods and an unknown operator', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    const attempts = [
      diskAlarm('a', { EvaluationPeriods: 2, DatapointsToAlarm: 3 }),
      diskAlarm('b', { EvaluationPeriods: 0 }),
      diskAlarm('c', { ComparisonOperator: 'Bigger' as never }),
    ];
    const names = [];
    for (const input of attempts) {
      const error = await cloudWatch.send(new PutMetricAlarmCommand(input)).catch((e: unknown) => e);
      names.push((error as Error).name);
    }
    expect(names).toEqual(['ValidationError', 'ValidationError', 'ValidationError']);
    expect(cloud.cloudwatch.alarmNames()).toEqual([]);
  });

  it('keeps the state of an alarm that is updated', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a')));
    await cloudWatch.send(
      new SetAlarmStateCommand({ AlarmName: 'disk-a', StateValue: 'ALARM', StateReason: 'test' }),
    );
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('disk-a', { Threshold: 90 })));
    const out = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: ['disk-a'] }));
    expect(out.MetricAlarms?.[0]).toMatchObject({ StateValue: 'ALARM', Threshold: 90 });
  });

  it('describes alarms by prefix, page by page with MaxRecords and NextToken', async () => {
    // Prepare
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    for (let i = 0; i < 7; i++)
      await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm(`berth-etcd-${i}`)));
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('other-alarm')));
    // Act
    const names: string[] = [];
    let pages = 0;
    let token: string | undefined;
    do {
      const out = await cloudWatch.send(
        new DescribeAlarmsCommand({ AlarmNamePrefix: 'berth-etcd-', MaxRecords: 3, NextToken: token }),
      );
      pages++;
      names.push(...(out.MetricAlarms ?? []).map((a) => a.AlarmName ?? ''));
      token = out.NextToken;
    } while (token);
    // Assess
    expect(pages).toBe(3);
    expect(names).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `berth-etcd-${i}`));
  });

  it('rejects MaxRecords above 100 and a forged NextToken', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    const tooMany = await cloudWatch
      .send(new DescribeAlarmsCommand({ MaxRecords: 101 }))
      .catch((e: unknown) => e);
    const forged = await cloudWatch
      .send(new DescribeAlarmsCommand({ NextToken: 'forged' }))
      .catch((e: unknown) => e);
    expect((tooMany as Error).name).toBe('ValidationError');
    expect(forged).toBeInstanceOf(InvalidNextToken);
  });

  it('refuses DescribeAlarms requests as CloudWatch does, and combines the filters it accepts', async () => {
    // DescribeAlarms API reference: AlarmNamePrefix cannot be given with AlarmNames
    // (InvalidParameterCombination); AlarmNames at most 100 items of 1-255 characters;
    // AlarmNamePrefix 1-255; StateValue OK | ALARM | INSUFFICIENT_DATA; MaxRecords 1-100
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    for (const name of ['berth-g-i-0a1', 'berth-g-i-0a2', 'berth-g-i-0b1', 'other'])
      await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm(name)));
    for (const name of ['berth-g-i-0a2', 'berth-g-i-0b1'])
      await cloudWatch.send(
        new SetAlarmStateCommand({ AlarmName: name, StateValue: 'ALARM', StateReason: 'test' }),
      );
    const refusal = (input: DescribeAlarmsCommandInput) =>
      cloudWatch.send(new DescribeAlarmsCommand(input)).then(
        () => 'accepted',
        (e: unknown) => (e as Error).name,
      );
    const names = (out: { MetricAlarms?: { AlarmName?: string }[] }) =>
      (out.MetricAlarms ?? []).map((a) => a.AlarmName);
    const hundredOne = Array.from({ length: 101 }, (_, i) => `alarm-${i}`);
    // Refused
    expect(await refusal({ AlarmNames: ['berth-g-i-0a1'], AlarmNamePrefix: 'berth-' })).toBe(
      'InvalidParameterCombinationException',
    );
    expect(await refusal({ AlarmNames: hundredOne })).toBe('ValidationError');
    expect(await refusal({ AlarmNames: [''] })).toBe('ValidationError');
    expect(await refusal({ AlarmNames: ['x'.repeat(256)] })).toBe('ValidationError');
    expect(await refusal({ AlarmNamePrefix: '' })).toBe('ValidationError');
    expect(await refusal({ AlarmNamePrefix: 'x'.repeat(256) })).toBe('ValidationError');
    expect(await refusal({ StateValue: 'FIRING' as 'ALARM' })).toBe('ValidationError');
    expect(await refusal({ MaxRecords: 0 })).toBe('ValidationError');
    // Accepted: 100 names; an unknown name is no error; filters combine
    expect(await refusal({ AlarmNames: hundredOne.slice(1) })).toBe('accepted');
    const byName = await cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNames: ['berth-g-i-0a1', 'berth-g-i-gone'] }),
    );
    const prefixed = await cloudWatch.send(new DescribeAlarmsCommand({ AlarmNamePrefix: 'berth-g-i-0a' }));
    const inAlarm = await cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNamePrefix: 'berth-g-i-', StateValue: 'ALARM' }),
    );
    const namedInAlarm = await cloudWatch.send(
      new DescribeAlarmsCommand({ AlarmNames: ['berth-g-i-0a1', 'berth-g-i-0a2'], StateValue: 'ALARM' }),
    );
    expect(names(byName)).toEqual(['berth-g-i-0a1']);
    expect(names(prefixed)).toEqual(['berth-g-i-0a1', 'berth-g-i-0a2']);
    expect(names(inAlarm)).toEqual(['berth-g-i-0a2', 'berth-g-i-0b1']);
    expect(names(namedInAlarm)).toEqual(['berth-g-i-0a2']);
  });

  it('filters alarms by StateValue', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('a')));
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('b')));
    await cloudWatch.send(
      new SetAlarmStateCommand({ AlarmName: 'b', StateValue: 'ALARM', StateReason: 'test' }),
    );
    const out = await cloudWatch.send(new DescribeAlarmsCommand({ StateValue: 'ALARM' }));
    expect(out.MetricAlarms?.map((a) => a.AlarmName)).toEqual(['b']);
  });

  it('deletes alarms, and deletes none when one name is unknown', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('a')));
    await cloudWatch.send(new PutMetricAlarmCommand(diskAlarm('b')));
    const error = await cloudWatch
      .send(new DeleteAlarmsCommand({ AlarmNames: ['a', 'ghost'] }))
      .catch((e: unknown) => e);
    const kept = cloud.cloudwatch.alarmNames();
    await cloudWatch.send(new DeleteAlarmsCommand({ AlarmNames: ['a'] }));
    expect(error).toBeInstanceOf(ResourceNotFound);
    expect(kept).toEqual(['a', 'b']);
    expect(cloud.cloudwatch.alarmNames()).toEqual(['b']);
  });

  it('answers GetMetricData per period, newest first', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    const start = new Date(cloud.clock.now());
    await putDiskUsage(cloudWatch, 10);
    cloud.clock.advance(60_000);
    await putDiskUsage(cloudWatch, 30);
    const out = await cloudWatch.send(
      new GetMetricDataCommand({
        StartTime: start,
        EndTime: new Date(start.getTime() + 120_000),
        MetricDataQueries: [
          {
            Id: 'disk',
            MetricStat: {
              Metric: { Namespace: 'CWAgent', MetricName: 'disk_used_percent', Dimensions: DIMENSIONS },
              Period: 60,
              Stat: 'Maximum',
            },
          },
        ],
      }),
    );
    expect(out.MetricDataResults?.[0]).toMatchObject({
      Id: 'disk',
      Values: [30, 10],
      StatusCode: 'Complete',
    });
  });

  it('answers GetMetricStatistics per period from the data put', async () => {
    const cloud = new LocalCloud();
    const { cloudWatch } = cloud.clients();
    await putDiskUsage(cloudWatch, 10);
    await putDiskUsage(cloudWatch, 30);
    const start = new Date(cloud.clock.now());
    const out = await cloudWatch.send(
      new GetMetricStatisticsCommand({
        Namespace: 'CWAgent',
        MetricName: 'disk_used_percent',
        Dimensions: DIMENSIONS,
        StartTime: start,
        EndTime: new Date(start.getTime() + 60_000),
        Period: 60,
        Statistics: ['Average', 'Maximum', 'SampleCount'],
      }),
    );
    expect(out.Datapoints).toEqual([expect.objectContaining({ Average: 20, Maximum: 30, SampleCount: 2 })]);
  });
});
