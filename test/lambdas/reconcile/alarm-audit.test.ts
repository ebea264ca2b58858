/**
 * The reconciler's disk-alarm audit (lambdas/shared/growth-reconcile.ts `repairAlarms`), through
 * the reconcile core against the local cloud: up to one DescribeAlarms page of alarms the whole
 * group every run; above it one shard of 16 per run (the hex digit after `i-0` of the instance id,
 * slot `floor(now / reconcile interval) mod 16`), ids of another form checked by name every run.
 */
import { DeleteAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { ensureAlarm } from '../../../lambdas/aws/alarms';
import { launchNode } from '../../../lambdas/launch/core';
import { reconcile } from '../../../lambdas/reconcile/core';
import {
  alarmName,
  alarmNamePrefix,
  AUDIT_SHARDS,
  auditShardOf,
  DEFAULT_RECONCILE_MINUTES,
} from '../../../lambdas/shared/alarm-names';
import { parseLifecycleEvent } from '../../../lambdas/shared/events';
import { instanceAlarmPrefix } from '../../../infra/event-patterns';
import { CloudFixture } from '../../helpers/cloud-fixture';

const INTERVAL_MS = DEFAULT_RECONCILE_MINUTES * 60_000;

/** A growth group of `sets` nodes launched through the launch core (ids queued first, if any). */
async function group(sets: number, firstIds: string[] = []): Promise<CloudFixture> {
  const fx = new CloudFixture({ sets, seed: 7, settings: { growth: {} } });
  fx.cloud.ec2.nextInstanceIds(firstIds);
  const deps = fx.deps();
  for (let done = 0; done < sets; done += 100) {
    fx.launch(Math.min(100, sets - done));
    const outcomes = await Promise.all(
      fx.launchEvents().map((e) => launchNode(deps, parseLifecycleEvent(e, 'launch'))),
    );
    expect(outcomes.every((o) => o.result === 'node')).toBe(true);
  }
  return fx;
}

function nodes(fx: CloudFixture): string[] {
  return [...fx.holders().values()].filter((id): id is string => id !== undefined);
}

/** Moves the virtual clock to the start of the next reconcile slot that audits `shard`. */
async function toSlot(fx: CloudFixture, shard: string): Promise<void> {
  const now = fx.cloud.clock.now();
  const slot = Math.floor(now / INTERVAL_MS);
  const ahead = (parseInt(shard, 16) - (slot % AUDIT_SHARDS) + AUDIT_SHARDS) % AUDIT_SHARDS || AUDIT_SHARDS;
  await fx.cloud.clock.sleep((slot + ahead) * INTERVAL_MS + 1_000 - now);
}

async function deleteAlarmOf(fx: CloudFixture, instanceId: string): Promise<void> {
  await fx.clients.cloudWatch.send(
    new DeleteAlarmsCommand({ AlarmNames: [alarmName(fx.settings, instanceId)] }),
  );
}

function hasAlarm(fx: CloudFixture, instanceId: string): boolean {
  return fx.cloud.cloudwatch.alarmNames().includes(alarmName(fx.settings, instanceId));
}

/** The DescribeAlarms requests of one reconciler run. */
async function describeAlarmsOfRun(fx: CloudFixture): Promise<Record<string, unknown>[]> {
  fx.cloud.accounting.log = [];
  fx.cloud.accounting.keepLog = true;
  await reconcile(fx.deps());
  fx.cloud.accounting.keepLog = false;
  return fx.cloud.accounting.log
    .filter((c) => c.operation === 'DescribeAlarms')
    .map((c) => c.input as Record<string, unknown>);
}

/** A made-up instance id of the `i-0` + 16 hex form in the given shard. */
function idInShard(shard: string, tail = '00000000000beef'): string {
  return `i-0${shard}${tail}`;
}

describe('the reconciler audits the disk alarms without growing with the fleet', () => {
  it('above one page, creates a missing alarm of its shard this run and one of another shard on that shard\u2019s run', async () => {
    // Prepare: 120 nodes; two lose their alarm, in two different shards
    const fx = await group(120);
    const ids = nodes(fx);
    const a = ids[0] ?? '';
    const b = ids.find((id) => auditShardOf(id) !== auditShardOf(a)) ?? '';
    const [shardA = '', shardB = ''] = [auditShardOf(a), auditShardOf(b)];
    await deleteAlarmOf(fx, a);
    await deleteAlarmOf(fx, b);
    // Act: the run whose slot is a's shard
    await toSlot(fx, shardA);
    const requests = await describeAlarmsOfRun(fx);
    // Assess: a's alarm is back, b's waits for its shard; one listing of the shard, one of ALARM
    expect(hasAlarm(fx, a)).toBe(true);
    expect(hasAlarm(fx, b)).toBe(false);
    const prefix = instanceAlarmPrefix(alarmNamePrefix(fx.settings));
    expect(requests.map((r) => [r.AlarmNamePrefix, r.StateValue])).toEqual(
      expect.arrayContaining([
        [prefix, 'ALARM'],
        [`${prefix}0${shardA}`, undefined],
      ]),
    );
    expect(requests).toHaveLength(2);
    // Act: the run of b's shard
    await toSlot(fx, shardB);
    await reconcile(fx.deps());
    // Assess
    expect(hasAlarm(fx, b)).toBe(true);
    expect(ids.every((id) => hasAlarm(fx, id))).toBe(true);
  });

  it('above one page, deletes an orphaned alarm of its shard, and one of another shard only on that shard\u2019s run', async () => {
    // Prepare: 120 nodes, and alarms of two instances that are no node (gone while no event came)
    const fx = await group(120);
    const deps = fx.deps();
    const shard = auditShardOf(nodes(fx)[0] ?? '') ?? '0';
    const other = ((parseInt(shard, 16) + 5) % AUDIT_SHARDS).toString(16);
    const orphan = idInShard(shard);
    const elsewhere = idInShard(other);
    await ensureAlarm(deps, orphan);
    await ensureAlarm(deps, elsewhere);
    // Act
    await toSlot(fx, shard);
    await reconcile(deps);
    // Assess
    expect(hasAlarm(fx, orphan)).toBe(false);
    expect(hasAlarm(fx, elsewhere)).toBe(true);
    expect(nodes(fx).every((id) => hasAlarm(fx, id))).toBe(true);
    // Act: that shard's run
    await toSlot(fx, other);
    await reconcile(deps);
    // Assess
    expect(hasAlarm(fx, elsewhere)).toBe(false);
  });

  it('above one page, checks a node whose id is not of the i-0 form by name every run', async () => {
    // Prepare: the first node has an 8-digit id (an instance from before EC2's longer ids)
    const short = 'i-1a2b3c4d';
    const fx = await group(120, [short]);
    expect(nodes(fx)).toContain(short);
    await deleteAlarmOf(fx, short);
    // Act: any slot
    await toSlot(fx, '7');
    const requests = await describeAlarmsOfRun(fx);
    // Assess: recreated, found missing by a DescribeAlarms by name
    expect(hasAlarm(fx, short)).toBe(true);
    expect(requests).toContainEqual(expect.objectContaining({ AlarmNames: [alarmName(fx.settings, short)] }));
    expect(requests.every((r) => !(r.AlarmNames && r.AlarmNamePrefix))).toBe(true);
  });

  it('up to one page, audits every alarm every run: one listing of the group and one of the alarms in ALARM', async () => {
    // Prepare: 3 nodes without their alarm, and an orphaned alarm
    const fx = await group(3);
    const ids = nodes(fx);
    for (const id of ids) await deleteAlarmOf(fx, id);
    const orphan = idInShard(auditShardOf(ids[0] ?? '') === 'f' ? '0' : 'f');
    await ensureAlarm(fx.deps(), orphan);
    // Act
    const requests = await describeAlarmsOfRun(fx);
    // Assess
    expect(ids.map((id) => hasAlarm(fx, id))).toEqual([true, true, true]);
    expect(hasAlarm(fx, orphan)).toBe(false);
    const prefix = instanceAlarmPrefix(alarmNamePrefix(fx.settings));
    expect(requests.map((r) => [r.AlarmNamePrefix, r.StateValue])).toEqual([
      [prefix, 'ALARM'],
      [prefix, undefined],
    ]);
  });
});
