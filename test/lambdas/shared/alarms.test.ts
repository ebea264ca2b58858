import { DescribeAlarmsCommand, ListTagsForResourceCommand } from '@aws-sdk/client-cloudwatch';
import { deleteAlarm, ensureAlarm, resetAlarm } from '../../../lambdas/aws/alarms';
import {
  alarmName,
  auditShard,
  auditShardOf,
  instanceOfAlarm,
  reconcileIntervalMinutes,
} from '../../../lambdas/shared/alarm-names';
import { resolveSettings } from '../../../lambdas/shared/config';
import { growthFixture, nodeWithSet } from '../grow/grow-fixture';

describe('disk alarms', () => {
  const settings = resolveSettings({ groupName: 'etcd-nodes', growth: {} });

  it('names an alarm after the group and the instance', () => {
    expect(alarmName(settings, 'i-0123456789abcdef0')).toBe('berth-etcd-nodes-i-0123456789abcdef0');
  });

  it.each([
    ['berth-etcd-nodes-i-0123456789abcdef0', 'i-0123456789abcdef0'],
    ['berth-etcd-nodes-x-i-0123456789abcdef0', undefined],
    ['berth-etcd-i-0123456789abcdef0', undefined],
    ['other-etcd-nodes-i-0123456789abcdef0', undefined],
  ])('tells its own alarm %s from others', (name, expected) => {
    expect(instanceOfAlarm(settings, name)).toBe(expected);
  });

  it('watches the agent’s disk_used_percent of the mount point with the configured period', async () => {
    // Prepare
    const fx = growthFixture(
      { alarm: { periodSeconds: 10, evaluationPeriods: 3, datapointsToAlarm: 2 } },
      { volumesPerSet: 5 },
    );
    const { instanceId } = await nodeWithSet(fx);
    const deps = fx.deps();
    // Act
    const name = await ensureAlarm(deps, instanceId);
    // Assess
    const out = await fx.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
    expect(out.MetricAlarms?.[0]).toMatchObject({
      Namespace: 'CWAgent',
      MetricName: 'disk_used_percent',
      Dimensions: [
        { Name: 'InstanceId', Value: instanceId },
        { Name: 'path', Value: '/data' },
        { Name: 'fstype', Value: 'btrfs' },
      ],
      Period: 10,
      EvaluationPeriods: 3,
      DatapointsToAlarm: 2,
      ComparisonOperator: 'GreaterThanOrEqualToThreshold',
      // 5 set volumes: the seed's threshold for 4–6 devices.
      Threshold: 80,
    });
    const tags = await fx.clients.cloudWatch.send(
      new ListTagsForResourceCommand({ ResourceARN: out.MetricAlarms?.[0]?.AlarmArn }),
    );
    expect(tags.Tags).toContainEqual({ Key: 'berth:group', Value: fx.groupName });
  });

  it('is idempotent, resets to OK, and deletes (twice) without error', async () => {
    // Prepare
    const fx = growthFixture();
    const { instanceId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const name = alarmName(fx.settings, instanceId);
    // Act
    await ensureAlarm(deps, instanceId, 70);
    await ensureAlarm(deps, instanceId, 70);
    await resetAlarm(deps, instanceId, 'test');
    const state = fx.cloud.cloudwatch.alarmState(name);
    await deleteAlarm(deps, instanceId);
    await deleteAlarm(deps, instanceId);
    // Assess
    expect(state).toBe('OK');
    expect(fx.cloud.cloudwatch.alarmNames()).not.toContain(name);
  });

  it.each([
    ['i-0123456789abcdef0', '1'],
    ['i-0f23456789abcdef0', 'f'],
    ['i-1234567890abcdef0', undefined], // not i-0
    ['i-1a2b3c4d', undefined], // the 8-digit ids of older instances
    ['i-0123456789ABCDEF0', undefined],
  ])('puts %s in audit shard %s', (id, shard) => {
    expect(auditShardOf(id)).toBe(shard);
  });

  it('audits consecutive shards on consecutive runs of the schedule it is given, 16 runs a cycle', () => {
    for (const minutes of [5, 10, 7]) {
      const start = 1_796_000_000_000 - (1_796_000_000_000 % (minutes * 60_000)) + 20_000;
      const shards = Array.from({ length: 17 }, (_, k) => auditShard(start + k * minutes * 60_000, minutes));
      expect(new Set(shards.slice(0, 16)).size).toBe(16);
      expect(shards[16]).toBe(shards[0]);
    }
  });

  it('reads the reconcile schedule the infra sets, 5 minutes without it, and refuses a bad one', () => {
    expect(reconcileIntervalMinutes({})).toBe(5);
    expect(reconcileIntervalMinutes({ BERTH_RECONCILE_MINUTES: '15' })).toBe(15);
    expect(() => reconcileIntervalMinutes({ BERTH_RECONCILE_MINUTES: '0' })).toThrow(
      'BERTH_RECONCILE_MINUTES: must be whole minutes from 1 to 1440',
    );
  });
});
