/**
 * The reconciler's growth part: delete growth and scratch volumes orphaned by a vanished instance
 * (never a NodeID volume that may hold data), delete abandoned grows that never reached the host
 * step (`pending` past the grow in-flight window), create missing disk alarms, delete stale ones,
 * and re-arm alarms stuck in ALARM (a grow that died, or a refusal whose limits may have changed).
 */
import {
  ALARMS_PER_PAGE,
  alarmName,
  auditShard,
  auditShardOf,
  instanceOfAlarm,
  reconcileIntervalMinutes,
} from './alarm-names';
import {
  deleteAlarm,
  ensureAlarm,
  findInstanceAlarms,
  listGroupAlarms,
  resetAlarm,
  type GroupAlarm,
} from '../aws/alarms';
import { liveInstances } from '../aws/instances';
import { awaitVolume, deleteVolume, findVolume, findVolumes, tagVolume } from '../aws/volumes';
import { describeInstance, detachVolume } from '../aws/attachments';
import type { Deps } from './deps';
import { describeError, isNotFound } from './errors';
import { notJoined } from './documents';
import { staleAfterMs, TAG_GROW_STATE, TAG_INSTANCE, TAG_PREPARED } from '../domain/growth-tags';
import { runScript } from '../aws/run-command';
import { availableOrGone, type VolumeRecord } from '../domain/volume';

export interface ReapResult {
  deleted: string[];
  /** Available owner-tagged volumes kept (their instance lives, or they carry a NodeID). */
  kept: number;
  /** Abandoned grows deleted: `pending` volumes older than the grow in-flight window. */
  abandoned: string[];
  /** Grows whose host step's outcome was unknown, settled by asking the host. */
  settled: { volumeId: string; outcome: 'joined' | 'refused' | 'unknown' }[];
}

/**
 * Deletes `available` volumes that carry this group's owner tag and no NodeID tag, and whose
 * creating instance (`berth:instance`) is gone or terminated. Cost grows with this group's
 * available volumes only (server-side filters).
 */
export async function reapOrphanedVolumes(
  deps: Deps,
  inAlarm: InAlarm = inAlarmOnce(deps),
): Promise<ReapResult> {
  const { settings, logger } = deps;
  const candidates = await findVolumes(
    deps,
    [
      { name: 'status', values: ['available'] },
      { name: `tag:${settings.ownerTagKey}`, values: [settings.groupName] },
      { name: 'tag-key', values: [TAG_INSTANCE] },
    ],
    'orphan candidates',
  );
  const orphanable = candidates.filter((v) => v.tags[settings.nodeIdTagKey] === undefined);
  const owners = [...new Set(orphanable.map((v) => v.tags[TAG_INSTANCE] ?? '').filter((id) => id !== ''))];
  const live = owners.length > 0 ? await liveInstances(deps, owners) : new Set<string>();
  const deleted: string[] = [];
  for (const volume of orphanable) {
    const owner = volume.tags[TAG_INSTANCE] ?? '';
    if (!volume.volumeId || owner === '' || live.has(owner)) continue;
    try {
      await deleteVolume(deps, volume.volumeId);
      deleted.push(volume.volumeId);
      logger.info('orphaned volume deleted', {
        volumeId: volume.volumeId,
        instanceId: owner,
        sizeGiB: volume.sizeGiB,
      });
    } catch (error) {
      if (isNotFound(error)) continue;
      // Attached meanwhile, or deleting: the next round sees it again.
      logger.warn('orphaned volume not deleted', { volumeId: volume.volumeId, error: describeError(error) });
    }
  }
  const abandoned = await reapAbandonedGrows(deps, new Set(deleted), inAlarm);
  const settled = await settleUnknownGrows(deps, inAlarm);
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
async function reapAbandonedGrows(
  deps: Deps,
  skip: ReadonlySet<string>,
  inAlarm: InAlarm,
): Promise<string[]> {
  const { settings, logger } = deps;
  const stale = deps.clock.now() - staleAfterMs(settings);
  const isStale = (v: VolumeRecord) => v.createdAt > 0 && v.createdAt < stale;
  const candidates = await findVolumes(
    deps,
    [
      { name: 'status', values: ['available', 'in-use'] },
      { name: `tag:${settings.ownerTagKey}`, values: [settings.groupName] },
      { name: `tag:${TAG_GROW_STATE}`, values: NEVER_JOINED },
    ],
    'abandoned grows',
  );
  const deleted: string[] = [];
  let alarmed: AlarmedSince | undefined;
  for (const found of candidates) {
    const volumeId = found.volumeId;
    if (!volumeId || skip.has(volumeId) || !isStale(found)) continue;
    const owner = found.tags[TAG_INSTANCE] ?? '';
    try {
      // Look again right before acting: a grow may have resumed it meanwhile (then it is
      // `joining`, or attached to its own instance) and must be left alone.
      const volume = await findVolume(deps, volumeId);
      const state = volume?.tags[TAG_GROW_STATE] ?? '';
      if (!volume || !NEVER_JOINED.includes(state)) continue;
      const attachments = volume.attachments.filter((a) => a.state !== 'detached');
      if (state === 'pending' && attachments.some((a) => a.instanceId === owner)) {
        alarmed ??= await inAlarm();
        if (await resumeExpected(deps, alarmed, owner, found)) continue;
      }
      for (const a of attachments) {
        if (a.instanceId) await detachVolume(deps, volumeId, a.instanceId);
      }
      if (attachments.length > 0) {
        const again = await awaitVolume(deps, volumeId, availableOrGone, 'available');
        if (!again || again.tags[TAG_GROW_STATE] !== state) continue;
      }
      await deleteVolume(deps, volumeId);
      deleted.push(volumeId);
      logger.info('abandoned grow volume deleted', {
        volumeId,
        instanceId: owner,
        detachedFrom: attachments.map((a) => a.instanceId),
        nodeId: volume.tags[settings.nodeIdTagKey],
        sizeGiB: volume.sizeGiB,
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
  /**
   * What this run audited for missing and orphaned alarms: `all` (the group fits one page), or the
   * one hex digit of its shard (above a page; see alarm-names.ts `AUDIT_SHARDS`).
   */
  audited: 'all' | string;
  /** Instances whose id is not of the `i-0` + 16 hex form, checked by name (above a page). */
  checkedByName: number;
}

/**
 * The group's disk alarms in ALARM, instance → epoch ms of its last state change (undefined when
 * CloudWatch gave none; Infinity once this run re-armed it, so that nothing re-arms it twice).
 */
type AlarmedSince = Map<string, number | undefined>;

/** The alarms in ALARM, listed at most once per run whoever asks first (reap, settle, repair). */
export type InAlarm = () => Promise<AlarmedSince>;

/**
 * One DescribeAlarms listing of the group's alarms in state ALARM (`StateValue`, with the group's
 * prefix), made on first use and shared for the rest of the reconciler run: what the stale-grow
 * checks and the stuck-alarm re-arm read. Its cost grows with the alarms in ALARM, not the fleet.
 */
export function inAlarmOnce(deps: Deps): InAlarm {
  let listed: Promise<AlarmedSince> | undefined;
  return () => {
    listed ??= listGroupAlarms(deps, { state: 'ALARM' }).then((alarms) => {
      const out: AlarmedSince = new Map();
      for (const alarm of alarms) {
        const owner = instanceOfAlarm(deps.settings, alarm.name);
        if (owner && alarm.state === 'ALARM') out.set(owner, alarm.stateSince);
      }
      return out;
    });
    return listed;
  };
}

/**
 * Makes the group's alarms match `instanceIds` (the instances that should have one: nodes, and
 * spares with scratch): sets back to OK an alarm stuck in ALARM longer than a grow can take (so it
 * fires again), creates the missing and deletes those of instances no longer listed.
 *
 * Cost per run does not grow with the fleet beyond one page (alarm-names.ts `AUDIT_SHARDS`):
 * - the re-arm reads the alarms in ALARM only (`inAlarm`, one listing per run, shared);
 * - missing and orphaned alarms: while the wanted instances' alarms fit one DescribeAlarms page
 *   (100; 50 instances with the predictive alarm, which shares the prefix), the whole group is
 *   listed and audited every run. Above that, one shard per run, `floor(now / interval) mod 16`
 *   (the digit after `i-0` of the instance id, listed by `AlarmNamePrefix`): its missing alarms are
 *   created and its orphans deleted; the next shard is the next run's. A full cycle takes 16 runs,
 *   16 × the reconcile interval (80 minutes on the default 5). Wanted instances whose id is not of
 *   the `i-0` + 16 hex form belong to no shard and are checked by name every run (DescribeAlarms
 *   `AlarmNames`, 100 a call); an orphaned alarm of such an id is deleted only while the group
 *   fits one page (terminate deletes alarms; orphans come from lost events only).
 */
export async function repairAlarms(
  deps: Deps,
  instanceIds: readonly string[],
  inAlarm: InAlarm = inAlarmOnce(deps),
): Promise<AlarmRepair> {
  const { settings, logger } = deps;
  const repair: AlarmRepair = { created: [], deleted: [], rearmed: [], audited: 'all', checkedByName: 0 };
  if (!settings.growth) return repair;
  const wanted = new Set(instanceIds);

  const stuckBefore = deps.clock.now() - staleAfterMs(settings);
  const alarmed = await inAlarm();
  for (const [id, since] of alarmed) {
    if (!wanted.has(id) || since === undefined || since >= stuckBefore) continue;
    await resetAlarm(deps, id, 'berth reconcile: in ALARM without a grow finishing; re-armed');
    alarmed.set(id, Infinity);
    repair.rearmed.push(alarmName(settings, id));
  }

  const alarmsPerInstance = settings.growth.timeToFullSeconds === undefined ? 1 : 2;
  let audited: string[];
  let listed: GroupAlarm[];
  if (wanted.size * alarmsPerInstance <= ALARMS_PER_PAGE) {
    audited = [...wanted];
    listed = await listGroupAlarms(deps);
  } else {
    const shard = auditShard(deps.clock.now(), reconcileIntervalMinutes());
    const byName = [...wanted].filter((id) => auditShardOf(id) === undefined);
    audited = [...wanted].filter((id) => auditShardOf(id) === shard).concat(byName);
    listed = [...(await listGroupAlarms(deps, { shard })), ...(await findInstanceAlarms(deps, byName))];
    repair.audited = shard;
    repair.checkedByName = byName.length;
  }
  const have = new Map<string, GroupAlarm>();
  for (const alarm of listed) {
    const owner = instanceOfAlarm(settings, alarm.name);
    if (owner) have.set(owner, alarm);
  }
  for (const id of audited) {
    if (have.has(id)) continue;
    repair.created.push(await ensureAlarm(deps, id));
  }
  for (const [id, alarm] of have) {
    if (wanted.has(id)) continue;
    await deleteAlarm(deps, id);
    repair.deleted.push(alarm.name);
  }
  if (repair.created.length + repair.deleted.length + repair.rearmed.length > 0) {
    logger.info('disk alarms repaired', { ...repair });
  }
  return repair;
}

/** Grow states of a volume that is in no filesystem: IAM lets berth delete exactly these. */
const NEVER_JOINED: readonly string[] = ['pending', 'refused'];

/**
 * True when the instance's own next grow is expected to resume its stale grow volume: its disk
 * alarm is in ALARM. An alarm that went to ALARM while the volume was still in flight (its grow
 * found it so and did nothing) would wait for the stuck-alarm re-arm: it is re-armed now, so that
 * the next grow, which finds the volume stale, resumes it.
 */
async function resumeExpected(
  deps: Deps,
  alarmed: AlarmedSince,
  instanceId: string,
  volume: VolumeRecord,
): Promise<boolean> {
  if (!alarmed.has(instanceId)) return false;
  const since = alarmed.get(instanceId) ?? 0;
  const staleAt = volume.createdAt + staleAfterMs(deps.settings);
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
async function settleUnknownGrows(deps: Deps, inAlarm: InAlarm): Promise<ReapResult['settled']> {
  const { settings, logger } = deps;
  const settled: ReapResult['settled'] = [];
  const stale = deps.clock.now() - staleAfterMs(settings);
  let volumes = await findVolumes(
    deps,
    [
      { name: 'status', values: ['in-use'] },
      { name: `tag:${settings.ownerTagKey}`, values: [settings.groupName] },
      { name: `tag:${TAG_GROW_STATE}`, values: ['joining', 'unknown'] },
    ],
    'grows of unknown outcome',
  );
  volumes = volumes.filter((v) => v.createdAt > 0 && v.createdAt < stale);
  let alarmed: AlarmedSince | undefined;
  for (const volume of volumes) {
    if (settled.length >= MAX_HOST_CHECKS) break;
    const volumeId = volume.volumeId;
    const tags = volume.tags;
    const attachment = volume.attachments.find((a) => a.state === 'attached');
    const instanceId = attachment?.instanceId;
    if (!volumeId || !instanceId || !attachment.device) continue;
    if (tags[TAG_GROW_STATE] === 'joining' && tags[TAG_INSTANCE] === instanceId) {
      alarmed ??= await inAlarm();
      if (await resumeExpected(deps, alarmed, instanceId, volume)) continue;
    }
    const instance = await describeInstance(deps, instanceId);
    if (instance?.state !== 'running') continue;
    // Only a node asks: a holder not yet prepared for the volume's set (a launch or a promotion
    // still on its way) has nothing mounted, so its answer would be "not joined" and the volume
    // would be detached while that prepare-node mounts it. Its next run, once prepared, asks.
    const nodeId = tags[settings.nodeIdTagKey];
    if (nodeId !== undefined && instance.tags[TAG_PREPARED] !== nodeId) continue;
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
          DeviceName: attachment.device,
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
  await tagVolume(deps, volumeId, { [TAG_GROW_STATE]: state });
}

/** Detaches and deletes a volume the host said is not in its filesystem. */
async function discardRefused(deps: Deps, volumeId: string, instanceId: string): Promise<boolean> {
  try {
    await detachVolume(deps, volumeId, instanceId);
    await awaitVolume(deps, volumeId, availableOrGone, 'available');
    await deleteVolume(deps, volumeId);
    return true;
  } catch (error) {
    if (isNotFound(error)) return true;
    deps.logger.warn('refused volume not deleted yet', { volumeId, error: describeError(error) });
    return false;
  }
}
