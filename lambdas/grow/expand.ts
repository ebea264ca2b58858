/**
 * The in-place strategy: ModifyVolume on the set's primary (or largest) volume → wait for
 * `optimizing` → grow-filesystem expand → alarm back to OK. A blocked expand on btrfs returns
 * `undefined`: the caller adds a device instead.
 */
import { resetAlarm } from '../aws/alarms';
import { classify, describeError, errorName, FinalError } from '../shared/errors';
import { poll } from '../shared/poll';
import { runScript } from '../aws/run-command';
import { attachmentOf, type VolumeRecord } from '../domain/volume';
import type { InstanceView } from '../aws/attachments';
import { latestModification, modifyVolumeSize, tagVolume, type Modification } from '../aws/volumes';
import { noop, refuse, type GrowDeps } from './outcomes';
import { modificationTimes, reasonOf, type Filesystem, type GrowResult, type Trigger } from './plan';
import { decideExpand, expandBlocked, expandTarget, type GrowthState } from '../domain/growth-policy';
import { TAG_EXPAND_STATE, TAG_EXPAND_TOKEN, TAG_MODIFICATIONS, staleAfterMs } from '../domain/growth-tags';

function modificationRunning(m: Modification | undefined): boolean {
  return m?.state === 'modifying' || m?.state === 'optimizing';
}

/**
 * Enlarges the target volume in place when the policy allows; `undefined` when blocked on btrfs
 * (the caller adds a device instead). ext4/xfs get the refusal.
 */
export async function tryExpand(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  state: GrowthState,
  token: string,
  trigger: Trigger,
): Promise<GrowResult | undefined> {
  const { settings, logger } = deps;
  const growth = settings.growth;
  if (!growth) return undefined;
  const instanceId = instance.instanceId;
  const target = expandTarget(state.members);
  const volume = fs.members.find((v) => v.volumeId === target?.volumeId);
  const modification = volume?.volumeId ? await latestModification(deps, volume.volumeId) : undefined;
  if (volume?.volumeId && volume.tags[TAG_EXPAND_STATE] === 'pending') {
    const startedAt = Math.max(0, ...modificationTimes(volume));
    if (volume.tags[TAG_EXPAND_TOKEN] !== token && startedAt > deps.clock.now() - staleAfterMs(settings)) {
      return noop(instanceId, 'in-flight', 'an in-place grow of this instance is in flight', volume.volumeId);
    }
    // Ours (a retried trigger) or abandoned: finish it without modifying again if it was modified.
    if (modification?.startedAt !== undefined && modification.startedAt >= startedAt) {
      const added = modification.targetSizeGiB - modification.originalSizeGiB;
      return finishExpand(deps, instance, volume, added, trigger);
    }
  }
  const decision = decideExpand(growth, {
    ...state,
    modifications: { inProgress: modificationRunning(modification), startTimes: modificationTimes(volume) },
  });
  if (decision.action !== 'expand') {
    if (decision.action === 'refuse' && expandBlocked(decision) && settings.filesystem === 'btrfs') {
      logger.info('in-place grow blocked; adding a device instead', {
        reason: decision.reason,
        figures: decision.figures,
      });
      return undefined;
    }
    if (decision.action === 'refuse')
      return refuse(deps, instanceId, trigger, decision.reason, decision.message, decision.figures);
    return undefined;
  }
  const volumeId = decision.volumeId;
  const now = deps.clock.now();
  const recent = modificationTimes(volume).filter((t) => t > now - 24 * 3600 * 1000);
  await tagVolume(deps, volumeId, {
    [TAG_EXPAND_TOKEN]: token,
    [TAG_EXPAND_STATE]: 'pending',
    [TAG_MODIFICATIONS]: [...recent, now].map((t) => Math.floor(t / 1000)).join(' '),
  });
  try {
    await modifyVolumeSize(deps, volumeId, decision.newSizeGiB);
  } catch (error) {
    const name = errorName(error);
    if (name === 'IncorrectModificationState') {
      // The policy saw no modification running: one started meanwhile (a racing trigger, or a
      // duplicate of this one). ModifyVolume admits one at a time, so that run does the growing.
      logger.info('another modification of this volume started meanwhile; nothing to do', { volumeId });
      return noop(instanceId, 'in-flight', 'an in-place grow of this instance is in flight', volumeId);
    }
    if (name === 'VolumeModificationRateExceeded') {
      await tagVolume(deps, volumeId, { [TAG_EXPAND_STATE]: 'blocked' });
      if (settings.filesystem === 'btrfs') {
        logger.info('ModifyVolume refused; adding a device instead', {
          volumeId,
          error: describeError(error),
        });
        return undefined;
      }
      return refuse(
        deps,
        instanceId,
        trigger,
        'modification-rate',
        `ModifyVolume ${volumeId}: ${describeError(error).message}`,
        decision.figures,
      );
    }
    throw classify(error, `ModifyVolume ${volumeId} to ${decision.newSizeGiB} GiB`);
  }
  logger.info('volume modification requested', {
    volumeId,
    newSizeGiB: decision.newSizeGiB,
    figures: decision.figures,
  });
  return finishExpand(deps, instance, volume, decision.sizeGiB, trigger, volumeId);
}

/** Waits for `optimizing` (the size is usable then), runs grow-filesystem expand, re-arms. */
async function finishExpand(
  deps: GrowDeps,
  instance: InstanceView,
  volume: VolumeRecord | undefined,
  addedGiB: number,
  trigger: Trigger,
  volumeId = volume?.volumeId ?? '',
): Promise<GrowResult> {
  const { settings, logger } = deps;
  const instanceId = instance.instanceId;
  await poll(
    deps,
    async () => {
      const m = await latestModification(deps, volumeId);
      if (m?.state === 'failed')
        throw new FinalError(`ModifyVolume ${volumeId} failed: ${m.statusMessage ?? ''}`);
      return m?.state === 'optimizing' || m?.state === 'completed' ? true : undefined;
    },
    {
      what: `${volumeId} optimizing`,
      timeoutSeconds: settings.timeouts.commandSeconds,
      intervalMs: 2000,
      maxIntervalMs: 15000,
    },
  );
  const device = attachmentOf(volume, instanceId)?.device ?? '';
  const run = await runScript(deps, instanceId, 'growFilesystem', {
    Mode: 'expand',
    VolumeId: volumeId,
    DeviceName: device,
    MountPoint: settings.mountPoint,
  });
  logger.info('filesystem grown in place', { volumeId, result: run.result });
  await tagVolume(deps, volumeId, { [TAG_EXPAND_STATE]: 'joined' });
  await resetAlarm(deps, instanceId, `berth: enlarged ${volumeId} by ${addedGiB} GiB; re-armed`);
  return { grown: true, instanceId, mode: 'expand', volumeId, sizeGiB: addedGiB, reason: reasonOf(trigger) };
}
