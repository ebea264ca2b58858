/**
 * The grow flow: one grow of one instance's filesystem, triggered by its disk alarm or by an
 * operator. It keeps no state of its own: the volumes' tags (lambdas/grow/tags.ts) say what is in
 * flight, and every step treats "already done" as done, so a duplicated or retried trigger resumes
 * instead of repeating. It lists (AWS layer), plans (plan.ts, policy.ts: pure), then acts.
 *
 * add-device: policy → CreateVolume (ClientToken from the trigger) → attach at a free device →
 * DeleteOnTermination (scratch only) → grow-filesystem add-device → tag joined → alarm back to OK.
 * expand (expand.ts): policy → ModifyVolume on the set's primary (or largest) volume → wait for
 * optimizing → grow-filesystem expand → alarm back to OK. Blocked expand on btrfs falls back to
 * add-device.
 *
 * Cleanup rule: a volume that failed before it joined the filesystem is detached and deleted; one
 * that joined (or may have: the host step's outcome is unknown) is never removed.
 */
import {
  attachVolume,
  deleteOnTermination,
  describeInstance,
  detachVolume,
  freeVolumeSlots,
  instanceAttachmentLimit,
  pickDevice,
  type InstanceView,
} from '../aws/attachments';
import { ensureAlarm, resetAlarm } from '../aws/alarms';
import { ASG_NAME_TAG } from '../shared/contract';
import { notJoined } from '../shared/documents';
import { classify, describeError, errorName, FinalError, isNotFound } from '../shared/errors';
import { runScript, waitForAgent } from '../aws/run-command';
import { attachedTo, attachmentOf, availableOrGone, isGone, type VolumeRecord } from '../domain/volume';
import {
  attachVolumeOnce,
  awaitVolume,
  createVolume,
  deleteVolume,
  findVolume,
  findVolumes,
  lifecycleStateOf,
  tagVolume,
  type VolumeFilter,
} from '../aws/volumes';
import { tryExpand } from './expand';
import { noop, refuse, type GrowDeps } from './outcomes';
import {
  clientToken,
  filesystemOf,
  growthStateOf,
  isLeavingGroup,
  newVolumeTags,
  pendingGrows,
  reasonOf,
  yieldsToAnother,
  type Filesystem,
  type GrowResult,
  type Trigger,
} from './plan';
import { decideAddDevice, thresholdFor, type Decision } from '../domain/growth-policy';
import { TAG_GROW_STATE, TAG_INSTANCE, staleAfterMs } from '../domain/growth-tags';

export { clientToken, isLeavingGroup, type GrowResult, type NoGrowReason, type Trigger } from './plan';
export type { GrowDeps, RefusalSink } from './outcomes';

/** Raised inside a grow when its instance started leaving the group before the host step. */
class LeavingGroup extends Error {
  constructor(readonly lifecycleState: string | undefined) {
    super(`the instance is ${lifecycleState ?? 'no longer in the group'}; its host may be quiesced`);
    this.name = 'LeavingGroup';
  }
}

/** The grows of an instance not over yet: berth's volumes tagged pending or joining for it. */
function pendingFilters(instanceId: string): VolumeFilter[] {
  return [
    { name: `tag:${TAG_INSTANCE}`, values: [instanceId] },
    { name: `tag:${TAG_GROW_STATE}`, values: ['pending', 'joining'] },
  ];
}

/** Grows one instance's filesystem once for this trigger. */
export async function grow(deps: GrowDeps, instanceId: string, trigger: Trigger): Promise<GrowResult> {
  const { settings, logger } = deps;
  const growth = settings.growth;
  logger.appendKeys({ instanceId });
  if (!growth)
    return refuse(deps, instanceId, trigger, 'growth-disabled', 'growth is not enabled for this group');

  const instance = await describeInstance(deps, instanceId);
  if (!instance || instance.state !== 'running') {
    return refuse(
      deps,
      instanceId,
      trigger,
      'not-running',
      `${instanceId} is ${instance?.state ?? 'gone'}; only a running instance grows`,
    );
  }
  if (instance.tags[ASG_NAME_TAG] !== settings.groupName) {
    return refuse(
      deps,
      instanceId,
      trigger,
      'not-in-group',
      `${instanceId} is not a member of ${settings.groupName} (its group: ${instance.tags[ASG_NAME_TAG] ?? 'none'})`,
    );
  }

  // A terminating instance's terminate flow quiesces the host (unmounts) and takes the set away:
  // a volume added now would reach no filesystem and follow the set as a blank non-member.
  const lifecycleState = await lifecycleStateOf(deps, instanceId);
  if (isLeavingGroup(lifecycleState)) {
    return refuse(
      deps,
      instanceId,
      trigger,
      'leaving-group',
      `${instanceId} is ${lifecycleState ?? 'not in the group'} in Auto Scaling; only an instance that stays in the group grows`,
    );
  }

  const token = clientToken(settings, instanceId, trigger);
  const [attached, pending] = await Promise.all([
    findVolumes(deps, [{ name: 'attachment.instance-id', values: [instanceId] }], 'attached'),
    findVolumes(deps, pendingFilters(instanceId), 'pending grows'),
  ]);
  const fs = filesystemOf(settings, instanceId, attached);
  if (fs.nodeId) logger.appendKeys({ nodeId: fs.nodeId });
  // Volumes of two sets on one instance (a launch run left another set's pieces for the reconciler
  // to release): which filesystem is mounted cannot be told from the volumes, and a volume tagged
  // into the wrong set would leave with that set while it is a member of this one.
  if (fs.nodeIds.length > 1) {
    return refuse(
      deps,
      instanceId,
      trigger,
      'two-sets',
      `${instanceId} holds volumes of ${fs.nodeIds.join(' and ')}; the reconciler releases the set it does not hold before it grows`,
    );
  }
  if (fs.members.length === 0) {
    return refuse(
      deps,
      instanceId,
      trigger,
      'no-filesystem',
      `${instanceId} holds neither a set nor a scratch volume of ${settings.groupName}`,
    );
  }

  // A grow in flight (a pending volume) makes this trigger a no-op; an abandoned one is resumed.
  const { inFlight, abandoned } = pendingGrows(pending, deps.clock.now() - staleAfterMs(settings));
  if (inFlight) {
    logger.info('a grow is in flight for this instance; nothing to do', { volumeId: inFlight.volumeId });
    return noop(instanceId, 'in-flight', 'a grow of this instance is in flight', inFlight.volumeId);
  }
  if (abandoned) {
    logger.warn('resuming an abandoned grow', { volumeId: abandoned.volumeId });
    return joinVolume(deps, instance, fs, abandoned, trigger);
  }

  const limit = await instanceAttachmentLimit(deps, instance.instanceType);
  const state = growthStateOf(settings, instanceId, fs, trigger, {
    freeAttachmentSlots: freeVolumeSlots(instance, limit),
    now: deps.clock.now(),
  });
  if (growth.strategy === 'expand') {
    const expanded = await tryExpand(deps, instance, fs, state, token, trigger);
    if (expanded) return expanded;
  }
  const decision = decideAddDevice(growth, state);
  if (decision.action !== 'add-device') {
    if (decision.action === 'refuse')
      return refuse(deps, instanceId, trigger, decision.reason, decision.message, decision.figures);
    throw new FinalError(`unexpected decision ${decision.action}`);
  }
  return addDevice(deps, instance, fs, decision, token, trigger);
}

// ---------------------------------------------------------------------------------------------
// add-device
// ---------------------------------------------------------------------------------------------

async function addDevice(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  decision: Extract<Decision, { action: 'add-device' }>,
  token: string,
  trigger: Trigger,
): Promise<GrowResult> {
  const { settings, logger } = deps;
  const growth = settings.growth;
  if (!growth) throw new FinalError('growth is not enabled for this group');
  const setVolumes =
    fs.nodeId === undefined
      ? []
      : await findVolumes(
          deps,
          [{ name: `tag:${settings.nodeIdTagKey}`, values: [fs.nodeId] }],
          'set volumes',
        );
  const tags = newVolumeTags(settings, instance, fs, token, setVolumes);
  let volume: VolumeRecord;
  try {
    volume = await createVolume(deps, {
      availabilityZone: instance.availabilityZone,
      sizeGiB: decision.sizeGiB,
      volumeType: growth.volumeType,
      ...(growth.iops !== undefined ? { iops: growth.iops } : {}),
      ...(growth.throughput !== undefined ? { throughput: growth.throughput } : {}),
      encrypted: growth.encrypted,
      ...(growth.kmsKeyId !== undefined ? { kmsKeyId: growth.kmsKeyId } : {}),
      clientToken: token,
      tags,
    });
  } catch (error) {
    if (errorName(error) === 'IdempotentParameterMismatch') {
      // The same trigger already made a volume with other figures (the policy moved on since).
      return noop(instance.instanceId, 'already-handled', 'this trigger already created a volume');
    }
    throw classify(error, `CreateVolume ${decision.sizeGiB} GiB for ${instance.instanceId}`);
  }
  const volumeId = volume.volumeId;
  if (!volumeId) throw new FinalError('CreateVolume returned no VolumeId');
  logger.info('growth volume created', {
    volumeId,
    sizeGiB: decision.sizeGiB,
    figures: decision.figures,
    nextThresholdPercent: decision.nextThresholdPercent,
  });
  const known = volume.tags[TAG_GROW_STATE];
  if (isGone(volume)) {
    return noop(
      instance.instanceId,
      'already-handled',
      'this trigger was handled before (its volume is gone)',
      volumeId,
    );
  }
  if (known === 'joined' || known === 'unknown') {
    return noop(instance.instanceId, 'already-handled', 'this trigger was handled before', volumeId);
  }
  return joinVolume(deps, instance, fs, { ...volume, tags }, trigger, decision);
}

/** Detaches (if attached here) and deletes a volume that never joined. Best effort: logs failures. */
async function discard(deps: GrowDeps, instanceId: string, volumeId: string, why: string): Promise<boolean> {
  try {
    await detachVolume(deps, volumeId, instanceId);
    const now = await awaitVolume(deps, volumeId, availableOrGone, 'available');
    // Gone already (the reconciler reaps a pending volume whose grow looked dead): nothing to
    // delete, and a DeleteVolume on it would be judged against no tags (IAM refuses it).
    if (!now || isGone(now)) return true;
    await deleteVolume(deps, volumeId);
    deps.logger.info('volume that never joined deleted', { volumeId, why });
    return true;
  } catch (error) {
    if (isNotFound(error)) return true;
    deps.logger.error('could not delete a volume that never joined; a later grow resumes it', {
      volumeId,
      error: describeError(error),
    });
    return false;
  }
}

/**
 * One AttachVolume: 'attached' when this call attached it, 'lost' when the volume is already
 * attached or attaching here (a duplicate won the race), 'retry' when it is attached nowhere yet.
 */
async function attachFirst(
  deps: GrowDeps,
  volumeId: string,
  instanceId: string,
  device: string,
): Promise<'attached' | 'lost' | 'retry'> {
  try {
    await attachVolumeOnce(deps, volumeId, instanceId, device);
    return 'attached';
  } catch (error) {
    const name = errorName(error);
    if (name !== 'VolumeInUse' && name !== 'IncorrectState' && name !== 'InvalidParameterValue') {
      throw classify(error, `AttachVolume ${volumeId} to ${instanceId} at ${device}`);
    }
    const mine = attachmentOf(await findVolume(deps, volumeId), instanceId);
    if (mine && mine.state !== 'detaching' && mine.state !== 'detached') return 'lost';
    return 'retry'; // not attached anywhere yet: the helper retries and waits
  }
}

/** Attach (if needed), DeleteOnTermination (scratch), grow-filesystem, tag joined, re-arm. */
async function joinVolume(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  volume: VolumeRecord,
  trigger: Trigger,
  decision?: Extract<Decision, { action: 'add-device' }>,
): Promise<GrowResult> {
  const { settings, logger } = deps;
  const growth = settings.growth;
  if (!growth) throw new FinalError('growth is not enabled for this group');
  const instanceId = instance.instanceId;
  const volumeId = volume.volumeId;
  const sizeGiB = volume.sizeGiB || (decision?.sizeGiB ?? 0);
  // A node's volume follows its set; a spare's (or a scratch group's) dies with the instance.
  const scratch = fs.nodeId === undefined;
  let stage: 'before-join' | 'host-step' = 'before-join';
  try {
    // 1. available, then attached here at a free device name.
    let current = await awaitVolume(
      deps,
      volumeId,
      (v) => v === undefined || v.state !== 'creating',
      'available',
    );
    if (!current || isGone(current)) throw new FinalError(`${volumeId} is ${current?.state ?? 'gone'}`);
    let device = attachmentOf(current, instanceId)?.device || undefined;
    // A fresh grow attaches the volume itself: finding it attached (or losing the AttachVolume
    // race) means a duplicate of this trigger is on it. A resumed grow takes it as it is.
    if (device && decision) {
      return noop(instanceId, 'in-flight', 'a duplicate of this trigger is growing', volumeId);
    }
    if (!device) {
      // Two triggers racing for one instance: the earlier pending volume proceeds, the later one
      // yields. Checked once the volume is available (seconds after CreateVolume), by which time
      // a racing run has created its own volume, or will find this one pending and stand down.
      if (decision) {
        const racing = await findVolumes(deps, pendingFilters(instanceId), 'racing grows');
        if (yieldsToAnother(racing, volumeId)) {
          await discard(deps, instanceId, volumeId, 'another grow of this instance is in flight');
          return noop(instanceId, 'in-flight', 'another grow of this instance is in flight');
        }
      }
      const chosen = await pickDevice(deps, instance);
      const first = decision ? await attachFirst(deps, volumeId, instanceId, chosen) : 'retry';
      if (first === 'lost')
        return noop(instanceId, 'in-flight', 'a duplicate of this trigger is growing', volumeId);
      device = first === 'attached' ? chosen : await attachVolume(deps, volumeId, instanceId, chosen);
    }
    current = await awaitVolume(deps, volumeId, attachedTo(instanceId), 'attached');
    device = attachmentOf(current, instanceId)?.device || device;
    // 2. A spare's scratch volume dies with its instance; a set's volume never does.
    if (scratch) {
      try {
        await deleteOnTermination(deps, instanceId, device, volumeId);
      } catch (error) {
        throw classify(error, `ModifyInstanceAttribute DeleteOnTermination ${volumeId}`);
      }
    }
    // 3. The host step: the agent first (nothing has run while it is offline).
    await waitForAgent(deps, instanceId);
    // Look again right before the host step: a termination that began meanwhile quiesces the host,
    // and the volume (still `pending`: never handed to a host) is removed instead of joined.
    const stateNow = await lifecycleStateOf(deps, instanceId);
    if (isLeavingGroup(stateNow)) throw new LeavingGroup(stateNow);
    // From here on the volume may be in the filesystem: `pending` means "never handed to the host".
    await tagVolume(deps, volumeId, { [TAG_GROW_STATE]: 'joining' });
    stage = 'host-step';
    const run = await runScript(deps, instanceId, 'growFilesystem', {
      Mode: 'add-device',
      VolumeId: volumeId,
      DeviceName: device,
      MountPoint: settings.mountPoint,
    });
    logger.info('volume joined the filesystem', { volumeId, device, result: run.result });
  } catch (error) {
    const safe = stage === 'before-join' || notJoined(error);
    logger.error('grow failed', {
      volumeId,
      stage,
      error: describeError(error),
      cleanup: safe ? 'detach and delete' : 'keep (it may have joined)',
    });
    if (safe) {
      // The host said the device did not join: mark it so (IAM lets berth delete only volumes
      // that never joined), then delete it. If the mark cannot be written, the volume stays
      // `joining`, which is never deleted: the reconciler settles it, no delete is attempted.
      const marked =
        stage !== 'host-step' ||
        (await tagVolume(deps, volumeId, { [TAG_GROW_STATE]: 'refused' }).then(
          () => true,
          () => false,
        ));
      if (marked) await discard(deps, instanceId, volumeId, `grow failed: ${describeError(error).message}`);
      else logger.warn('could not mark the volume refused: left for the reconciler', { volumeId });
      if (error instanceof LeavingGroup) {
        return refuse(
          deps,
          instanceId,
          trigger,
          'leaving-group',
          `${instanceId} began leaving the group during the grow (${error.message}); the new volume was removed`,
        );
      }
    } else {
      await tagVolume(deps, volumeId, { [TAG_GROW_STATE]: 'unknown' }).catch((tagError: unknown) =>
        logger.error('could not tag the volume unknown', { volumeId, error: describeError(tagError) }),
      );
    }
    throw error;
  }
  await tagVolume(deps, volumeId, { [TAG_GROW_STATE]: 'joined' });
  const devices = fs.members.length + 1;
  const next = decision?.nextThresholdPercent ?? thresholdFor(growth, devices);
  if (next !== thresholdFor(growth, fs.members.length)) await ensureAlarm(deps, instanceId, next);
  await resetAlarm(deps, instanceId, `berth: added ${volumeId} (${sizeGiB} GiB); re-armed`);
  return {
    grown: true,
    instanceId,
    mode: 'add-device',
    volumeId,
    sizeGiB,
    reason: reasonOf(trigger),
    ...(decision ? { figures: decision.figures } : {}),
  };
}
