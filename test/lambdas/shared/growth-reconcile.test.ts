import { DeleteTagsCommand } from '@aws-sdk/client-ec2';
import { grow as handler } from '../../helpers/handlers';
import { ensureAlarm } from '../../../lambdas/aws/alarms';
import { alarmName } from '../../../lambdas/shared/alarm-names';
import {
  attachVolume,
  detachVolume,
  volumeAttachedTo,
  volumeAvailable,
  waitForVolume,
} from '../../../lambdas/aws/attachments';
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
  /** A node whose grow was killed right after its volume was attached (the host step never ran). */
  async function growDiedAfterAttach() {
    for (let calls = 1; calls <= 60; calls++) {
      const fx = growthFixture();
      const restore = fx.plugHandlers();
      const { instanceId } = await nodeWithSet(fx);
      const event = await alarmFires(fx, instanceId);
      fx.cloud.faults.killAfter(calls);
      await handler(event).catch(() => undefined);
      fx.cloud.faults.revive();
      restore();
      const grown = fx.cloud.ec2.volumes().filter((v) => v.tags['berth:instance'] === instanceId);
      const attached = grown.filter((v) => v.tags['berth:grow-state'] === 'pending' && v.state === 'in-use');
      if (attached.length === 1 && grown.length === 1) {
        return { fx, instanceId, pendingId: attached[0]?.volumeId ?? '' };
      }
    }
    throw new Error('no kill left a pending volume attached');
  }

  it('deletes a pending volume whose grow died before the host step once its set moved to another instance', async () => {
    // Prepare: the grow of node A dies once its volume is attached (never handed to the host);
    // A is replaced and the set, pending volume included, follows to B.
    const { fx, instanceId: a, pendingId } = await growDiedAfterAttach();
    const deps = fx.deps();
    const set = [...(fx.sets[0]?.volumeIds ?? []), pendingId];
    for (const id of set) {
      await detachVolume(deps, id, a);
      await waitForVolume(deps, id, volumeAvailable);
    }
    fx.cloud.ec2.terminateInstance(a);
    const b = await runningInstance(fx);
    let letter = 'f'.charCodeAt(0);
    for (const id of set) {
      await attachVolume(deps, id, b, `/dev/sd${String.fromCharCode(letter++)}`);
      await waitForVolume(deps, id, volumeAttachedTo(b));
    }
    fx.cloud.clock.advance(3600_000);
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess: the volume that never joined is gone, the set's own volumes stay on B.
    expect(result.abandoned).toEqual([pendingId]);
    expect(['deleting', 'deleted', undefined]).toContain(fx.cloud.ec2.volume(pendingId)?.state);
    expect(fx.sets[0]?.volumeIds.map((id) => fx.cloud.ec2.volume(id)?.state)).toEqual(
      fx.sets[0]?.volumeIds.map(() => 'in-use'),
    );
  });

  it('keeps a pending volume while its grow may run, and one attached to a node whose disk alarm is in ALARM', async () => {
    // Prepare: a fresh pending volume, and a stale one attached to the node it was made for,
    // whose disk is full (its next grow resumes it).
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const tags = {
      'berth:group': fx.groupName,
      'berth:instance': instanceId,
      'berth:grow-state': 'pending',
      NodeID: nodeId,
      'berth:ordinal': '1',
    };
    const own = fx.cloud.ec2.seedVolume({ availabilityZone: 'eu-west-1a', tags });
    await attachVolume(deps, own, instanceId, '/dev/sdp');
    await waitForVolume(deps, own, volumeAttachedTo(instanceId));
    fx.cloud.clock.advance(3600_000);
    await alarmFires(fx, instanceId);
    const fresh = fx.cloud.ec2.seedVolume({ availabilityZone: 'eu-west-1a', tags });
    // Act
    const result = await reapOrphanedVolumes(deps);
    // Assess: the node's next grow resumes its own; the fresh one is in flight.
    expect(result.abandoned).toEqual([]);
    expect([own, fresh].map((id) => fx.cloud.ec2.volume(id)?.state)).toEqual(['in-use', 'available']);
  });

  it('deletes a stale pending volume attached to its own node once that disk is no longer full', async () => {
    // Prepare: the grow died after attaching; the disk alarm is back to OK, so no grow resumes it.
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const volumeId = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: {
        'berth:group': fx.groupName,
        'berth:instance': instanceId,
        'berth:grow-state': 'pending',
        NodeID: nodeId,
        'berth:ordinal': '1',
      },
    });
    await attachVolume(deps, volumeId, instanceId, '/dev/sdp');
    await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId));
    for (let minute = 0; minute < 60; minute++) {
      await reportDiskUsed(fx, instanceId, 40);
      fx.cloud.clock.advance(60_000);
    }
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
    // Act
    const result = await reapOrphanedVolumes(deps);
    // Assess: gone; the set's own volumes stay attached.
    expect(result.abandoned).toEqual([volumeId]);
    expect(['deleting', 'deleted', undefined]).toContain(fx.cloud.ec2.volume(volumeId)?.state);
    expect(fx.sets[0]?.volumeIds.map((id) => fx.cloud.ec2.volume(id)?.state)).toEqual(
      fx.sets[0]?.volumeIds.map(() => 'in-use'),
    );
  });

  it('detaches and deletes a refused volume whose grow died before deleting it and whose set moved on', async () => {
    // Prepare: the host refused the volume on the set's previous instance; the set, refused
    // volume included, now sits on this node.
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const volumeId = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: {
        'berth:group': fx.groupName,
        'berth:instance': 'i-0000000000000dead',
        'berth:grow-state': 'refused',
        NodeID: nodeId,
        'berth:ordinal': '1',
      },
    });
    await attachVolume(deps, volumeId, instanceId, '/dev/sdp');
    await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId));
    fx.cloud.clock.advance(3600_000);
    // Act
    const result = await reapOrphanedVolumes(deps);
    // Assess
    expect(result.abandoned).toEqual([volumeId]);
    expect(['deleting', 'deleted', undefined]).toContain(fx.cloud.ec2.volume(volumeId)?.state);
  });

  it('asks the host about a joining volume on its own node only once that disk alarm left ALARM', async () => {
    // Prepare: the grow died during its host step; the node's disk is still full at first.
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const volumeId = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: {
        'berth:group': fx.groupName,
        'berth:instance': instanceId,
        'berth:grow-state': 'joining',
        NodeID: nodeId,
        'berth:ordinal': '1',
      },
    });
    await attachVolume(deps, volumeId, instanceId, '/dev/sdp');
    await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId));
    fx.cloud.clock.advance(3600_000);
    await alarmFires(fx, instanceId);
    const whileFull = await reapOrphanedVolumes(deps);
    for (let minute = 0; minute < 10; minute++) {
      await reportDiskUsed(fx, instanceId, 40);
      fx.cloud.clock.advance(60_000);
    }
    // Act
    const once = await reapOrphanedVolumes(deps);
    // Assess
    expect(whileFull.settled).toEqual([]);
    expect(once.settled).toEqual([{ volumeId, outcome: 'joined' }]);
    expect(fx.cloud.ec2.volume(volumeId)?.tags['berth:grow-state']).toBe('joined');
  });

  it('re-arms the alarm of a node whose dead grow was still in flight when the alarm fired, so that the next grow resumes it', async () => {
    // Prepare: a pending volume on its own node; the alarm fired while it was still in flight.
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const volumeId = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: {
        'berth:group': fx.groupName,
        'berth:instance': instanceId,
        'berth:grow-state': 'pending',
        NodeID: nodeId,
        'berth:ordinal': '1',
      },
    });
    await attachVolume(deps, volumeId, instanceId, '/dev/sdp');
    await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId));
    await alarmFires(fx, instanceId);
    for (let minute = 0; minute < 60; minute++) {
      await reportDiskUsed(fx, instanceId, 95);
      fx.cloud.clock.advance(60_000);
    }
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('ALARM');
    // Act
    const result = await reapOrphanedVolumes(deps);
    // Assess: kept for the resume, and the alarm is back to OK so that it fires again.
    expect(result.abandoned).toEqual([]);
    expect(fx.cloud.ec2.volume(volumeId)?.state).toBe('in-use');
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
  });

  it('deletes an available pending volume past the grow in-flight window', async () => {
    // Prepare: a grow died between CreateVolume and AttachVolume on a node that still lives.
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const volume = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: {
        'berth:group': fx.groupName,
        'berth:instance': instanceId,
        'berth:grow-state': 'pending',
        NodeID: nodeId,
        'berth:ordinal': '1',
      },
    });
    fx.cloud.clock.advance(3600_000);
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.abandoned).toEqual([volume]);
    expect(['deleting', 'deleted', undefined]).toContain(fx.cloud.ec2.volume(volume)?.state);
  });
  /** A node holding a grown volume whose grow died during its host step on the set's previous instance. */
  async function joiningVolumeOnMovedSet() {
    const fx = growthFixture();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const deps = fx.deps();
    const volumeId = fx.cloud.ec2.seedVolume({
      availabilityZone: 'eu-west-1a',
      tags: {
        'berth:group': fx.groupName,
        'berth:instance': 'i-0000000000000dead',
        'berth:grow-state': 'joining',
        NodeID: nodeId,
        'berth:ordinal': '1',
      },
    });
    await attachVolume(deps, volumeId, instanceId, '/dev/sdp');
    await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId));
    fx.cloud.clock.advance(3600_000);
    return { fx, instanceId, volumeId };
  }

  it('asks the host about a joining volume that came with its set, and marks it joined when it is a member', async () => {
    // Prepare
    const { fx, volumeId } = await joiningVolumeOnMovedSet();
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.settled).toEqual([{ volumeId, outcome: 'joined' }]);
    expect(fx.cloud.ec2.volume(volumeId)).toMatchObject({
      state: 'in-use',
      tags: { 'berth:grow-state': 'joined' },
    });
    expect(fx.cloud.accounting.count('ec2:DeleteVolume')).toBe(0);
  });

  it('detaches and deletes a joining volume that came with its set when the host says it did not join', async () => {
    // Prepare
    const { fx, volumeId } = await joiningVolumeOnMovedSet();
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
      exitCode: 1,
      stdout: '{"ok":false,"action":"grow-filesystem","code":"failed","error":"no space","joined":false}\n',
    });
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.settled).toEqual([{ volumeId, outcome: 'refused' }]);
    expect(['deleting', 'deleted', undefined]).toContain(fx.cloud.ec2.volume(volumeId)?.state);
  });

  it('asks no host that is not yet prepared for the set: its launch or promotion is mounting it', async () => {
    // Prepare: the holder lost its prepared mark (a launch or promotion of it is still on its way)
    const { fx, instanceId, volumeId } = await joiningVolumeOnMovedSet();
    await fx.clients.ec2.send(
      new DeleteTagsCommand({ Resources: [instanceId], Tags: [{ Key: 'berth:prepared' }] }),
    );
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.settled).toEqual([]);
    expect(fx.cloud.ssm.recorder.requestsFor('grow-filesystem.sh')).toEqual([]);
    expect(fx.cloud.ec2.volume(volumeId)).toMatchObject({ state: 'in-use' });
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
  });

  it('keeps a joining volume that came with its set, tagged unknown, when the host cannot tell', async () => {
    // Prepare
    const { fx, volumeId } = await joiningVolumeOnMovedSet();
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
      exitCode: 1,
      stdout: '{"ok":false,"action":"grow-filesystem","code":"failed","error":"resize failed"}\n',
    });
    // Act
    const result = await reapOrphanedVolumes(fx.deps());
    // Assess
    expect(result.settled).toEqual([{ volumeId, outcome: 'unknown' }]);
    expect(fx.cloud.ec2.volume(volumeId)).toMatchObject({
      state: 'in-use',
      tags: { 'berth:grow-state': 'unknown' },
    });
    expect(fx.cloud.accounting.count('ec2:DeleteVolume')).toBe(0);
  });
});
