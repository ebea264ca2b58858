import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { grow as handler } from '../../helpers/handlers';
import { alarmName, timeToFullAlarmName } from '../../../lambdas/shared/alarm-names';
import { beforeRelease } from '../../../lambdas/aws/lifecycle';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import {
  growthFixture,
  grownVolumes,
  nodeWithSet,
  reportDiskUsed,
  takeAlarmEvent,
  handlerSuite,
} from './grow-fixture';

describe('predictive growth (growth.timeToFullSeconds)', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  async function stateOf(name: string) {
    const out = await fx.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
    return out.MetricAlarms?.[0];
  }

  it('grows a node filling fast while it is still below its threshold, through the grow handler', async () => {
    // Prepare: predictive growth at 600 s; the disk alarm's threshold is 50 %
    fx = growthFixture({ timeToFullSeconds: 600 }, { sets: 1 });
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    const eta = timeToFullAlarmName(fx.settings, instanceId);
    expect(await stateOf(eta)).toMatchObject({ Threshold: 600, ComparisonOperator: 'LessThanThreshold' });
    // Act: 6 % a minute from 10 %; at 46 %, 540 s to full
    for (const used of [10, 16, 22, 28, 34, 40, 46]) {
      await reportDiskUsed(fx, instanceId, used);
      fx.cloud.clock.advance(60_000);
    }
    const result = await handler(takeAlarmEvent(fx, eta));
    // Assess: grown by the predictive alarm; the disk alarm never fired; both re-armed
    expect(result).toMatchObject({ grown: true, instanceId });
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
    expect((await stateOf(alarmName(fx.settings, instanceId)))?.StateValue).toBe('OK');
    expect((await stateOf(eta))?.StateValue).toBe('OK');
  });

  it('a duplicate of the predictive event, and the disk alarm firing too, add no second volume', async () => {
    fx = growthFixture({ timeToFullSeconds: 600 }, { sets: 1 });
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    for (const used of [30, 38, 46, 54]) {
      await reportDiskUsed(fx, instanceId, used);
      fx.cloud.clock.advance(60_000);
    }
    // Both alarms fired (the disk crossed 50 % too); one drain holds both events.
    const events = fx.cloud.events.drain('CloudWatch Alarm State Change');
    const last = (name: string) => events.filter((e) => e.detail.alarmName === name).pop();
    const predictive = last(timeToFullAlarmName(fx.settings, instanceId));
    const threshold = last(alarmName(fx.settings, instanceId));
    if (!predictive || !threshold) throw new Error('both alarms should have fired');
    const results = await Promise.all([
      handler(predictive),
      handler(structuredClone(predictive)),
      handler(threshold),
    ]);
    expect(results.filter((r) => r.grown)).toHaveLength(1);
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
  });

  it('is deleted with the disk alarm, and is not created when off', async () => {
    fx = growthFixture({ timeToFullSeconds: 600 }, { sets: 2 });
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    await beforeRelease(fx.deps(), instanceId);
    expect(fx.cloud.cloudwatch.alarmNames()).toEqual([]);
    const off = growthFixture({}, { sets: 1 });
    const node = await nodeWithSet(off);
    expect(off.cloud.cloudwatch.alarmNames()).toEqual([alarmName(off.settings, node.instanceId)]);
  });

  it('ignores an alarm of another group that looks like a predictive one', async () => {
    fx = growthFixture({ timeToFullSeconds: 600 }, { sets: 1 });
    handlers.plug(fx);
    const result = await handler({
      'detail-type': 'CloudWatch Alarm State Change',
      detail: {
        alarmName: 'someone-else-i-0123456789abcdef0-time-to-full',
        state: { value: 'ALARM', timestamp: '2026-12-01T00:00:00Z' },
      },
    });
    expect(result).toMatchObject({ grown: false, refused: 'ignored' });
  });
});
