import { handler } from '../../../lambdas/grow/index';
import { alarmName, ensureAlarm } from '../../../lambdas/shared/alarms';
import { reapOrphanedVolumes, repairAlarms } from '../../../lambdas/shared/growth-reconcile';
import {
  ALARM_EVENT,
  alarmFires,
  growthFixture,
  nodeWithSet,
  reportDiskUsed,
  runningInstance,
  scratchInstance,
  takeAlarmEvent,
} from '../grow/grow-fixture';

describe('growth reconciliation', () => {
  it('reaps a scratch volume whose instance is gone, and nothing else', async () => {
    // Prepare: a spare's scratch volume leaked (DeleteOnTermination never set), a live instance's
    // pending volume, and a NodeID volume whose instance is gone.
    const fx = growthFixture({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } });
    const az = 'eu-west-1a';
    const owner = { 'berth:group': fx.groupName };
    const leaked = fx.cloud.ec2.seedVolume({
      availabilityZone: az,
      tags: { ...owner, 'berth:instance': 'i-0000000000000dead' },
    });
    const live = await runningInstance(fx);
    const pending = fx.cloud.ec2.seedVolume({
      availabilityZone: az,
      tags: { ...owner, 'berth:instance': live },
    });
    const setVolume = fx.cloud.ec2.seedVolume({
      availabilityZone: az,
      tags: { ...owner, 'berth:instance': 'i-0000000000000dead', NodeID: 'node-9', 'berth:ordinal': '1' },
    });
    const foreign = fx.cloud.ec2.seedVolume({
      availabilityZone: az,
      tags: { 'berth:group': 'other', 'berth:instance': 'i-0000000000000dead' },
    });
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.deleted).toEqual([leaked]);
    const gone = (id: string) => [undefined, 'deleting', 'deleted'].includes(fx.cloud.ec2.volume(id)?.state);
    expect([pending, setVolume, foreign].map(gone)).toEqual([false, false, false]);
  });

  it('reaps the volumes of a terminated instance', async () => {
    // Prepare
    const fx = growthFixture({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } });
    const instanceId = await runningInstance(fx);
    const volume = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: { 'berth:group': fx.groupName, 'berth:instance': instanceId },
    });
    fx.cloud.ec2.terminateInstance(instanceId);
    await fx.cloud.clock.sleep(60_000);
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.deleted).toEqual([volume]);
  });

  it('creates missing alarms and deletes those of instances that left', async () => {
    // Prepare
    const fx = growthFixture({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } });
    const { instanceId: node } = await nodeWithSet(fx);
    const { instanceId: spare } = await scratchInstance(fx);
    const deps = fx.deps();
    await ensureAlarm(deps, 'i-0000000000000dead');
    await fx.cloud.cloudwatch.handle('DeleteAlarms', { AlarmNames: [alarmName(fx.settings, spare)] });
    // Act
    const repair = await repairAlarms(deps, [node, spare]);
    // Assess
    expect(repair.created).toEqual([alarmName(fx.settings, spare)]);
    expect(repair.deleted).toEqual([alarmName(fx.settings, 'i-0000000000000dead')]);
    expect(fx.cloud.cloudwatch.alarmNames().filter((n) => n.startsWith('berth-'))).toEqual(
      [alarmName(fx.settings, node), alarmName(fx.settings, spare)].sort(),
    );
  });

  it('re-arms an alarm stuck in ALARM after a grow died, so that the node grows', async () => {
    // Prepare: the grow's run is killed after it began.
    const fx = growthFixture();
    const restore = fx.plugHandlers();
    try {
      const { instanceId } = await nodeWithSet(fx);
      const event = await alarmFires(fx, instanceId);
      fx.cloud.faults.killAfter(2);
      await expect(handler(event)).rejects.toThrow();
      fx.cloud.faults.revive();
      // The agent keeps reporting a full disk for 40 minutes: the alarm stays in ALARM.
      for (let minute = 0; minute < 40; minute++) {
        await reportDiskUsed(fx, instanceId, 95);
        fx.cloud.clock.advance(60_000);
      }
      // Act
      const repair = await repairAlarms(fx.deps(), [instanceId]);
      // Assess
      expect(repair.rearmed).toEqual([alarmName(fx.settings, instanceId)]);
      expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
      fx.cloud.events.drain(ALARM_EVENT);
      for (let minute = 0; minute < 3; minute++) {
        await reportDiskUsed(fx, instanceId, 95);
        fx.cloud.clock.advance(60_000);
      }
      const again = await handler(takeAlarmEvent(fx, alarmName(fx.settings, instanceId)));
      expect(again).toMatchObject({ grown: true });
    } finally {
      restore();
    }
  });
});
