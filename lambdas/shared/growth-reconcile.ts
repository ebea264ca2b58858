/**
 * The reconciler's growth part: delete growth and scratch volumes orphaned by a vanished instance
 * (never a NodeID volume that may hold data), delete abandoned grows that never reached the host
 * step (`pending` past the grow in-flight window), create missing disk alarms, delete stale ones,
 * and re-arm alarms stuck in ALARM (a grow that died, or a refusal whose limits may have changed).
 */
import {
  CreateTagsCommand,
  DeleteVolumeCommand,
  DescribeInstancesCommand,
  type Volume,
} from '@aws-sdk/client-ec2';
import { deleteAlarm, ensureAlarm, instanceOfAlarm, listGroupAlarms, resetAlarm } from './alarms';
import {
  describeInstance,
  describeVolume,
  detachVolume,
  listVolumes,
  retrying,
  tagMap,
  volumeAvailable,
  waitForVolume,
} from './attachments';
import type { Deps } from './deps';
import { classify, describeError, isNotFound } from './errors';
import { notJoined } from './documents';
import { staleAfterMs, TAG_GROW_STATE, TAG_INSTANCE } from '../grow/tags';
import { runScript } from './ssm';

export interface ReapResult {
  deleted: string[];
  /** Available owner-tagged volumes kept (their instance lives, or they carry a NodeID). */
  kept: number;
  /** Abandoned grows deleted: `pending` volumes older than the grow in-flight window. */
  abandoned: string[];
  /** Grows whose host step's outcome was unknown, settled by asking the host. */
  settled: { volumeId: string; outcome: 'joined' | 'refused' | 'unknown' }[];
}

/** Instances (of any state) that still exist, by id; terminated ones count as gone. */
async function liveInstances(deps: Pick<Deps, 'ec2' | 'clock'>, ids: string[]): Promise<Set<string>> {
  const live = new Set<string>();
  for (let i = 0; i < ids.length; i += 200) {
    const chunk = ids.slice(i, i + 200);
    let token: string | undefined;
    do {
      // A filter (not InstanceIds) so that an unknown id is just absent, not an error.
      const out = await retrying(deps, () =>
        deps.ec2.send(
          new DescribeInstancesCommand({
            Filters: [{ Name: 'instance-id', Values: chunk }],
            NextToken: token,
          }),
        ),
      );
      for (const r of out.Reservations ?? []) {
        for (const inst of r.Instances ?? []) {
          if (inst.InstanceId && inst.State?.Name !== 'terminated') live.add(inst.InstanceId);
        }
      }
      token = out.NextToken;
    } while (token);
  }
  return live;
}

/**
 * Deletes `available` volumes that carry this group's owner tag and no NodeID tag, and whose
 * creating instance (`berth:instance`) is gone or terminated. Cost grows with this group's
 * available volumes only (server-side filters).
 */
export async function reapOrphanedVolumes(deps: Deps): Promise<ReapResult> {
  const { settings, logger } = deps;
  const candidates = await listVolumes(
    deps,
    [
      { Name: 'status', Values: ['available'] },
      { Name: `tag:${settings.ownerTagKey}`, Values: [settings.groupName] },
      { Name: 'tag-key', Values: [TAG_INSTANCE] },
    ],
    'orphan candidates',
  );
  const orphanable = candidates.filter((v) => tagMap(v.Tags)[settings.nodeIdTagKey] === undefined);
  const owners = [
    ...new Set(orphanable.map((v) => tagMap(v.Tags)[TAG_INSTANCE] ?? '').filter((id) => id !== '')),
  ];
  const live = owners.length > 0 ? await liveInstances(deps, owners) : new Set<string>();
  const deleted: string[] = [];
  for (const volume of orphanable) {
    const owner = tagMap(volume.Tags)[TAG_INSTANCE] ?? '';
    if (!volume.VolumeId || owner === '' || live.has(owner)) continue;
    try {
      await retrying(deps, () => deps.ec2.send(new DeleteVolumeCommand({ VolumeId: volume.VolumeId })));
      deleted.push(volume.VolumeId);
      logger.info('orphaned volume deleted', {
        volumeId: volume.VolumeId,
        instanceId: owner,
        sizeGiB: volume.Size,
      });
    } catch (error) {
      if (isNotFound(error)) continue;
      // Attached meanwhile, or deleting: the next round sees it again.
      logger.warn('orphaned volume not deleted', { volumeId: volume.VolumeId, error: describeError(error) });
    }
  }
  const abandoned = await reapAbandonedGrows(deps, new Set(deleted));
  const settled = await settleUnknownGrows(deps);
  return { deleted, kept: candidates.length - deleted.length, abandoned, settled };
}

/**
 * A grow that died after CreateVolume and before the host step leaves a `pending` volume: created,
 * maybe attached, never handed to the host (the grow tags `joining` first), so it holds no data.
 * Its own instance's next grow resumes it (the reconciler re-arms that instance's alarm), but
 * nothing else would ever touch it: when it is past the grow in-flight window and
 * - available (never attached, or its set was released by a terminate): it is deleted;
 * - attached to another instance than the one it was made for (its set moved to a new instance):
 *   it is detached from there and deleted (a NodeID set's volume, but one that never joined: IAM
 *   lets berth delete `pending` volumes only);
 * - attached to its own instance: while that instance's disk alarm is in ALARM, its next grow
 *   resumes it (the reconciler re-arms a stuck alarm) and it is left alone; otherwise no grow is
 *   coming (the disk is no longer full) and it is detached and deleted like the others.
 * A `refused` volume (the host said it did not join) whose grow died before deleting it, or
 * whose set moved on with it, is detached and deleted wherever it is.
 */
async function reapAbandonedGrows(deps: Deps, skip: ReadonlySet<string>): Promise<string[]> {
  const { settings, logger } = deps;
  const stale = deps.clock.now() - staleAfterMs(settings);
  const isStale = (v: Volume) => v.CreateTime !== undefined && new Date(v.CreateTime).getTime() < stale;
  const candidates = await listVolumes(
    deps,
    [
      { Name: 'status', Values: ['available', 'in-use'] },
      { Name: `tag:${settings.ownerTagKey}`, Values: [settings.groupName] },
      { Name: `tag:${TAG_GROW_STATE}`, Values: [...NEVER_JOINED] },
    ],
    'abandoned grows',
  );
  const deleted: string[] = [];
  let alarmed: Map<string, number> | undefined;
  for (const found of candidates) {
    const volumeId = found.VolumeId;
    if (!volumeId || skip.has(volumeId) || !isStale(found)) continue;
    const owner = tagMap(found.Tags)[TAG_INSTANCE] ?? '';
    try {
      // Look again right before acting: a grow may have resumed it meanwhile (then it is
      // `joining`, or attached to its own instance) and must be left alone.
      const volume = await describeVolume(deps, volumeId);
      const state = tagMap(volume?.Tags)[TAG_GROW_STATE] ?? '';
      if (!volume || !NEVER_JOINED.includes(state)) continue;
      const attachments = (volume.Attachments ?? []).filter((a) => a.State !== 'detached');
      if (state === 'pending' && attachments.some((a) => a.InstanceId === owner)) {
        alarmed ??= await instancesInAlarm(deps);
        if (await resumeExpected(deps, alarmed, owner, found)) continue;
      }
      for (const a of attachments) {
        if (a.InstanceId) await detachVolume(deps, volumeId, a.InstanceId);
      }
      if (attachments.length > 0) {
        const again = await waitForVolume(deps, volumeId, volumeAvailable, 'available');
        if (!again || tagMap(again.Tags)[TAG_GROW_STATE] !== state) continue;
      }
      await retrying(deps, () => deps.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })));
      deleted.push(volumeId);
      logger.info('abandoned grow volume deleted', {
        volumeId,
        instanceId: owner,
        detachedFrom: attachments.map((a) => a.InstanceId),
        nodeId: tagMap(volume.Tags)[settings.nodeIdTagKey],
        sizeGiB: volume.Size,
      });
    } catch (error) {
      if (isNotFound(error)) continue;
      // Attached or resumed meanwhile, or still detaching: the next round sees it again.
      logger.warn('abandoned grow volume not deleted', { volumeId, error: describeError(error) });
    }
  }
  return deleted;
}

export interface AlarmRepair {
  created: string[];
  deleted: string[];
  rearmed: string[];
}

/**
 * Makes the group's alarms match `instanceIds` (the instances that should have one: nodes, and
 * spares with scratch): creates the missing, deletes those of instances no longer listed, and sets
 * back to OK an alarm stuck in ALARM longer than a grow can take (so it fires again).
 */
export async function repairAlarms(deps: Deps, instanceIds: readonly string[]): Promise<AlarmRepair> {
  const { settings, logger } = deps;
  const repair: AlarmRepair = { created: [], deleted: [], rearmed: [] };
  if (!settings.growth) return repair;
  const wanted = new Set(instanceIds);
  const alarms = await listGroupAlarms(deps);
  const have = new Map<string, (typeof alarms)[number]>();
  for (const alarm of alarms) {
    const owner = alarm.AlarmName ? instanceOfAlarm(settings, alarm.AlarmName) : undefined;
    if (owner) have.set(owner, alarm);
  }
  for (const id of wanted) {
    if (have.has(id)) continue;
    repair.created.push(await ensureAlarm(deps, id));
  }
  const stuckBefore = deps.clock.now() - staleAfterMs(settings);
  for (const [id, alarm] of have) {
    if (!wanted.has(id)) {
      await deleteAlarm(deps, id);
      repair.deleted.push(alarm.AlarmName ?? id);
      continue;
    }
    const since = alarm.StateUpdatedTimestamp ? new Date(alarm.StateUpdatedTimestamp).getTime() : Infinity;
    if (alarm.StateValue === 'ALARM' && since < stuckBefore) {
      await resetAlarm(deps, id, 'berth reconcile: in ALARM without a grow finishing; re-armed');
      repair.rearmed.push(alarm.AlarmName ?? id);
    }
  }
  if (repair.created.length + repair.deleted.length + repair.rearmed.length > 0) {
    logger.info('disk alarms repaired', { ...repair });
  }
  return repair;
}

/** Grow states of a volume that is in no filesystem: IAM lets berth delete exactly these. */
const NEVER_JOINED: readonly string[] = ['pending', 'refused'];

/** Instances whose disk alarm is in ALARM (a grow of theirs is under way or coming), and since when. */
async function instancesInAlarm(deps: Deps): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  for (const alarm of await listGroupAlarms(deps)) {
    const owner = alarm.AlarmName ? instanceOfAlarm(deps.settings, alarm.AlarmName) : undefined;
    if (owner && alarm.StateValue === 'ALARM') {
      out.set(owner, alarm.StateUpdatedTimestamp ? new Date(alarm.StateUpdatedTimestamp).getTime() : 0);
    }
  }
  return out;
}

/**
 * True when the instance's own next grow is expected to resume its stale grow volume: its disk
 * alarm is in ALARM. An alarm that went to ALARM while the volume was still in flight (its grow
 * found it so and did nothing) would wait for the stuck-alarm re-arm: it is re-armed now, so that
 * the next grow, which finds the volume stale, resumes it.
 */
async function resumeExpected(
  deps: Deps,
  alarmed: Map<string, number>,
  instanceId: string,
  volume: Volume,
): Promise<boolean> {
  const since = alarmed.get(instanceId);
  if (since === undefined) return false;
  const staleAt =
    (volume.CreateTime ? new Date(volume.CreateTime).getTime() : 0) + staleAfterMs(deps.settings);
  if (since < staleAt) {
    await resetAlarm(
      deps,
      instanceId,
      'berth reconcile: a grow of this instance died; re-armed to resume it',
    );
    alarmed.set(instanceId, Infinity); // once per run; still expected to resume
  }
  return true;
}

/** Host checks per reconciler run: each may wait for an agent and a command. */
// One per run: a host that cannot answer costs up to agentOnlineSeconds + the command wait, which
// must fit in the reconcile Lambda's 900 s (infra/defaults.ts); the next run takes the next volume.
const MAX_HOST_CHECKS = 1;
const HOST_CHECK_SECONDS = 120;

/**
 * A grow that died during its host step (`joining`, its run gone) or whose host step failed in a
 * way that said nothing about the device (`unknown`) leaves a volume that may or may not be in the
 * filesystem: it is never deleted blindly. Past the grow in-flight window, the reconciler asks the
 * host the volume is attached to (running; for a `joining` volume on its own instance, only when
 * that instance's disk alarm is not in ALARM: otherwise its next grow resumes it) with
 * grow-filesystem add-device, which is a no-op for a member device and adds a blank one: success
 * marks it `joined`; a host that says the device did not join gets it marked `refused`, detached
 * and deleted; any other outcome leaves it `unknown` for a later round (and an operator: logged).
 */
async function settleUnknownGrows(deps: Deps): Promise<ReapResult['settled']> {
  const { settings, logger } = deps;
  const settled: ReapResult['settled'] = [];
  const stale = deps.clock.now() - staleAfterMs(settings);
  let volumes = await listVolumes(
    deps,
    [
      { Name: 'status', Values: ['in-use'] },
      { Name: `tag:${settings.ownerTagKey}`, Values: [settings.groupName] },
      { Name: `tag:${TAG_GROW_STATE}`, Values: ['joining', 'unknown'] },
    ],
    'grows of unknown outcome',
  );
  volumes = volumes.filter((v) => v.CreateTime !== undefined && new Date(v.CreateTime).getTime() < stale);
  let alarmed: Map<string, number> | undefined;
  for (const volume of volumes) {
    if (settled.length >= MAX_HOST_CHECKS) break;
    const volumeId = volume.VolumeId ?? '';
    const tags = tagMap(volume.Tags);
    const attachment = (volume.Attachments ?? []).find((a) => a.State === 'attached');
    const instanceId = attachment?.InstanceId;
    if (!volumeId || !instanceId || !attachment.Device) continue;
    if (tags[TAG_GROW_STATE] === 'joining' && tags[TAG_INSTANCE] === instanceId) {
      alarmed ??= await instancesInAlarm(deps);
      if (await resumeExpected(deps, alarmed, instanceId, volume)) continue;
    }
    const instance = await describeInstance(deps, instanceId);
    if (instance?.state !== 'running') continue;
    let outcome: 'joined' | 'refused' | 'unknown';
    try {
      // Handed to the host (again): `joining` is also the only state `refused` may follow (IAM).
      if (tags[TAG_GROW_STATE] !== 'joining') await tagState(deps, volumeId, 'joining');
      const run = await runScript(
        deps,
        instanceId,
        'growFilesystem',
        {
          Mode: 'add-device',
          VolumeId: volumeId,
          DeviceName: attachment.Device,
          MountPoint: settings.mountPoint,
        },
        { timeoutSeconds: HOST_CHECK_SECONDS },
      );
      await tagState(deps, volumeId, 'joined');
      outcome = 'joined';
      logger.info('grow of unknown outcome: the volume is in the filesystem', {
        volumeId,
        instanceId,
        result: run.result,
      });
    } catch (error) {
      if (notJoined(error)) {
        await tagState(deps, volumeId, 'refused').catch(() => undefined);
        const gone = await discardRefused(deps, volumeId, instanceId);
        outcome = 'refused';
        logger.info('grow of unknown outcome: the host says the volume did not join', {
          volumeId,
          instanceId,
          deleted: gone,
        });
      } else {
        await tagState(deps, volumeId, 'unknown').catch(() => undefined);
        outcome = 'unknown';
        logger.warn('grow of unknown outcome: the host could not tell; volume kept', {
          volumeId,
          instanceId,
          error: describeError(error),
        });
      }
    }
    settled.push({ volumeId, outcome });
  }
  return settled;
}

async function tagState(deps: Deps, volumeId: string, state: string): Promise<void> {
  try {
    await retrying(deps, () =>
      deps.ec2.send(
        new CreateTagsCommand({ Resources: [volumeId], Tags: [{ Key: TAG_GROW_STATE, Value: state }] }),
      ),
    );
  } catch (error) {
    throw classify(error, `CreateTags ${volumeId}`);
  }
}

/** Detaches and deletes a volume the host said is not in its filesystem. */
async function discardRefused(deps: Deps, volumeId: string, instanceId: string): Promise<boolean> {
  try {
    await detachVolume(deps, volumeId, instanceId);
    await waitForVolume(deps, volumeId, volumeAvailable, 'available');
    await retrying(deps, () => deps.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })));
    return true;
  } catch (error) {
    if (isNotFound(error)) return true;
    deps.logger.warn('refused volume not deleted yet', { volumeId, error: describeError(error) });
    return false;
  }
}
