/**
 * The grow core: one grow of one instance's filesystem, triggered by its disk alarm or by an
 * operator. It keeps no state of its own: the volumes' tags (lambdas/grow/tags.ts) say what is in
 * flight, and every step treats "already done" as done, so a duplicated or retried trigger resumes
 * instead of repeating.
 *
 * add-device: policy → CreateVolume (ClientToken from the trigger) → attach at a free device →
 * DeleteOnTermination (scratch only) → grow-filesystem add-device → tag joined → alarm back to OK.
 * expand: policy → ModifyVolume on the set's primary (or largest) volume → wait for optimizing →
 * grow-filesystem expand → alarm back to OK. Blocked expand on btrfs falls back to add-device.
 *
 * Cleanup rule: a volume that failed before it joined the filesystem is detached and deleted; one
 * that joined (or may have: the host step's outcome is unknown) is never removed.
 */
import { createHash } from 'node:crypto';
import { DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesModificationsCommand,
  ModifyVolumeCommand,
  type Tag,
  type Volume,
  type VolumeModification,
} from '@aws-sdk/client-ec2';
import { ensureAlarm, resetAlarm } from '../shared/alarms';
import {
  attachmentTo,
  attachVolume,
  describeInstance,
  describeVolume,
  freeVolumeSlots,
  instanceAttachmentLimit,
  pickDevice,
  retrying,
  tagMap,
  volumeAttachedTo,
  volumeAvailable,
  waitForVolume,
  detachVolume,
  type InstanceView,
  deleteOnTermination,
  listVolumes,
} from '../shared/attachments';
import type { GrowthSettings, Settings } from '../shared/config';
import type { Deps } from '../shared/deps';
import { classify, describeError, errorName, FinalError, isNotFound, TimeoutError } from '../shared/errors';
import { ASG_NAME_TAG } from '../shared/contract';
import { runScript, waitForAgent, type ScriptRun } from '../shared/ssm';
import {
  decideAddDevice,
  decideExpand,
  expandBlocked,
  expandTarget,
  thresholdFor,
  type Decision,
  type Figures,
  type GrowthState,
} from './policy';
import {
  TAG_EXPAND_STATE,
  TAG_EXPAND_TOKEN,
  TAG_GROW_STATE,
  TAG_GROW_TOKEN,
  TAG_INSTANCE,
  TAG_MODIFICATIONS,
  staleAfterMs,
} from './tags';

/** What started a grow. */
export type Trigger =
  | { kind: 'alarm'; alarmName: string; stateTimestamp: string }
  | { kind: 'manual'; requestId: string; sizeGiB?: number; reason: string };

export type NoGrowReason =
  | Extract<Decision, { action: 'refuse' }>['reason']
  | 'growth-disabled'
  | 'not-running'
  | 'not-in-group'
  | 'leaving-group'
  | 'no-filesystem'
  | 'in-flight'
  | 'already-handled'
  | 'failed';

/** The outcome, as the handler returns it (the Automation execution shows it). */
export interface GrowResult {
  grown: boolean;
  instanceId: string;
  mode?: 'add-device' | 'expand';
  volumeId?: string;
  sizeGiB?: number;
  refused?: NoGrowReason;
  reason: string;
  figures?: Figures;
}

/** Where refusals are counted (Powertools Metrics in the handler). */
export interface RefusalSink {
  refusal(reason: string, figures: Figures | undefined): void;
}

export type GrowDeps = Deps & { refusals?: RefusalSink };

/** The ASG tag every member instance carries. */

/**
 * Lifecycle states in which an instance is on its way out of the group: its terminate flow may
 * already have quiesced the host (unmounted the filesystem), so a grow must not act on it
 * (Auto Scaling lifecycle states: Amazon EC2 Auto Scaling User Guide, "Amazon EC2 Auto Scaling
 * instance lifecycle").
 */
export function isLeavingGroup(lifecycleState: string | undefined): boolean {
  if (lifecycleState === undefined) return true;
  return (
    lifecycleState.startsWith('Terminating') ||
    lifecycleState === 'Terminated' ||
    lifecycleState.startsWith('Detach') ||
    lifecycleState.startsWith('Warmed')
  );
}

/** The instance's Auto Scaling lifecycle state (undefined: not in any group). */
export async function lifecycleStateOf(deps: GrowDeps, instanceId: string): Promise<string | undefined> {
  try {
    const out = await retrying(deps, () =>
      deps.autoScaling.send(new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] })),
    );
    const mine = (out.AutoScalingInstances ?? []).find(
      (i) => i.InstanceId === instanceId && i.AutoScalingGroupName === deps.settings.groupName,
    );
    return mine?.LifecycleState;
  } catch (error) {
    throw classify(error, `DescribeAutoScalingInstances ${instanceId}`);
  }
}

/** Raised inside a grow when its instance started leaving the group before the host step. */
class LeavingGroup extends Error {
  constructor(readonly lifecycleState: string | undefined) {
    super(`the instance is ${lifecycleState ?? 'no longer in the group'}; its host may be quiesced`);
    this.name = 'LeavingGroup';
  }
}

/** ClientToken of a trigger: ≤ 64 ASCII characters, the same for a duplicate of the same event. */
export function clientToken(
  settings: Pick<Settings, 'groupName'>,
  instanceId: string,
  trigger: Trigger,
): string {
  const source =
    trigger.kind === 'alarm'
      ? `alarm|${settings.groupName}|${trigger.alarmName}|${trigger.stateTimestamp}`
      : `manual|${settings.groupName}|${instanceId}|${trigger.requestId}`;
  return createHash('sha256').update(source).digest('hex');
}

function tagsToList(tags: Record<string, string>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function createdAt(volume: Volume): number {
  return volume.CreateTime ? new Date(volume.CreateTime).getTime() : 0;
}

async function tagVolume(deps: GrowDeps, volumeId: string, tags: Record<string, string>): Promise<void> {
  try {
    await retrying(deps, () =>
      deps.ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: tagsToList(tags) })),
    );
  } catch (error) {
    throw classify(error, `CreateTags ${volumeId}`);
  }
}

/** The filesystem an instance carries: its set's volumes, or its scratch volumes. */
interface Filesystem {
  nodeId?: string;
  members: Volume[];
  /** Attached volumes, all of them (for devices and cooldown). */
  attached: Volume[];
}

function filesystemOf(settings: Settings, instanceId: string, attached: Volume[]): Filesystem {
  const nodeId = attached
    .map((v) => tagMap(v.Tags)[settings.nodeIdTagKey])
    .find((id): id is string => id !== undefined && id !== '');
  const members = attached.filter((v) => {
    const tags = tagMap(v.Tags);
    // A `pending` volume never reached a host: a member of no filesystem, wherever it is attached
    // (a set's volume whose grow died on the set's previous instance; the reconciler deletes it).
    // This instance's `joining` grows are not members yet; a set's volume that was joining on the
    // set's previous instance may be: it came with the set.
    if (tags[TAG_GROW_STATE] === 'pending') return false;
    if (tags[TAG_GROW_STATE] === 'joining' && tags[TAG_INSTANCE] === instanceId) return false;
    if (nodeId !== undefined) return tags[settings.nodeIdTagKey] === nodeId;
    return tags[settings.ownerTagKey] === settings.groupName && tags[TAG_INSTANCE] === instanceId;
  });
  return { ...(nodeId !== undefined ? { nodeId } : {}), members, attached };
}

function ordinalOf(settings: Settings, volume: Volume): number | undefined {
  const raw = tagMap(volume.Tags)[settings.ordinalTagKey];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(n) ? n : undefined;
}

/** When berth last grew this instance: its newest joined volume, or its newest modification. */
function lastGrowAt(instanceId: string, fs: Filesystem): number | undefined {
  let last: number | undefined;
  for (const v of fs.attached) {
    const tags = tagMap(v.Tags);
    if (tags[TAG_INSTANCE] === instanceId && tags[TAG_GROW_STATE] === 'joined') {
      last = Math.max(last ?? 0, createdAt(v));
    }
    for (const t of modificationTimes(v)) last = Math.max(last ?? 0, t);
  }
  return last;
}

function modificationTimes(volume: Volume | undefined): number[] {
  return (tagMap(volume?.Tags)[TAG_MODIFICATIONS] ?? '')
    .split(' ')
    .filter((s) => s !== '')
    .map((s) => Number(s) * 1000)
    .filter((t) => Number.isFinite(t));
}

async function latestModification(deps: GrowDeps, volumeId: string): Promise<VolumeModification | undefined> {
  try {
    const out = await retrying(deps, () =>
      deps.ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] })),
    );
    return (out.VolumesModifications ?? [])
      .filter((m) => m.VolumeId === volumeId)
      .sort((a, b) => new Date(b.StartTime ?? 0).getTime() - new Date(a.StartTime ?? 0).getTime())[0];
  } catch (error) {
    if (errorName(error) === 'InvalidVolumeModification.NotFound') return undefined;
    throw classify(error, `DescribeVolumesModifications ${volumeId}`);
  }
}

function modificationRunning(m: VolumeModification | undefined): boolean {
  return m?.ModificationState === 'modifying' || m?.ModificationState === 'optimizing';
}

/** Refusal: logged with its figures, counted, never an error that retries. */
async function refuse(
  deps: GrowDeps,
  instanceId: string,
  trigger: Trigger,
  reason: NoGrowReason,
  message: string,
  figures?: Figures,
): Promise<GrowResult> {
  deps.logger.warn('grow refused', { reason, detail: message, figures, trigger: trigger.kind });
  deps.refusals?.refusal(reason, figures);
  // Transient refusals: back to OK so that the alarm fires again once they may have passed.
  if (trigger.kind === 'alarm' && (reason === 'cooldown' || reason === 'modification-in-progress')) {
    await resetAlarm(deps, instanceId, `berth: grow refused (${reason}); re-armed`);
  }
  return { grown: false, instanceId, refused: reason, reason: message, ...(figures ? { figures } : {}) };
}

function noop(instanceId: string, refused: NoGrowReason, reason: string, volumeId?: string): GrowResult {
  return { grown: false, instanceId, refused, reason, ...(volumeId ? { volumeId } : {}) };
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
    listVolumes(deps, [{ Name: 'attachment.instance-id', Values: [instanceId] }], 'attached'),
    listVolumes(
      deps,
      [
        { Name: `tag:${TAG_INSTANCE}`, Values: [instanceId] },
        { Name: `tag:${TAG_GROW_STATE}`, Values: ['pending', 'joining'] },
      ],
      'pending grows',
    ),
  ]);
  const fs = filesystemOf(settings, instanceId, attached);
  if (fs.nodeId) logger.appendKeys({ nodeId: fs.nodeId });
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
  const live = pending.filter((v) => v.State !== 'deleting' && v.State !== 'deleted' && v.State !== 'error');
  const stale = deps.clock.now() - staleAfterMs(settings);
  const inFlight = live.find((v) => createdAt(v) > stale);
  if (inFlight) {
    logger.info('a grow is in flight for this instance; nothing to do', { volumeId: inFlight.VolumeId });
    return noop(instanceId, 'in-flight', 'a grow of this instance is in flight', inFlight.VolumeId);
  }
  const abandoned = live.sort((a, b) => createdAt(a) - createdAt(b))[0];
  if (abandoned?.VolumeId) {
    logger.warn('resuming an abandoned grow', { volumeId: abandoned.VolumeId });
    return joinVolume(deps, instance, fs, abandoned, growth, trigger);
  }

  const figuresState = await growthState(deps, instance, fs, trigger);
  if (growth.strategy === 'expand') {
    const expanded = await tryExpand(deps, instance, fs, figuresState, token, trigger);
    if (expanded) return expanded;
  }
  const decision = decideAddDevice(growth, figuresState);
  if (decision.action !== 'add-device') {
    if (decision.action === 'refuse')
      return refuse(deps, instanceId, trigger, decision.reason, decision.message, decision.figures);
    throw new FinalError(`unexpected decision ${decision.action}`);
  }
  return addDevice(deps, instance, fs, decision, token, trigger);
}

async function growthState(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  trigger: Trigger,
): Promise<GrowthState> {
  const limit = await instanceAttachmentLimit(deps, instance.instanceType);
  const last = lastGrowAt(instance.instanceId, fs);
  return {
    members: fs.members.map((v) => {
      const ordinal = fs.nodeId !== undefined ? ordinalOf(deps.settings, v) : undefined;
      return {
        volumeId: v.VolumeId ?? '',
        sizeGiB: v.Size ?? 0,
        ...(ordinal !== undefined ? { ordinal } : {}),
      };
    }),
    freeAttachmentSlots: freeVolumeSlots(instance, limit),
    now: deps.clock.now(),
    ...(last !== undefined ? { lastGrowAt: last } : {}),
    ...(trigger.kind === 'manual' ? { manual: true } : {}),
    ...(trigger.kind === 'manual' && trigger.sizeGiB !== undefined
      ? { requestedSizeGiB: trigger.sizeGiB }
      : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// add-device
// ---------------------------------------------------------------------------------------------

/** Tags of a new volume: the instance's (never `aws:`), the set's for a node, berth's own. */
function newVolumeTags(
  settings: Settings,
  instance: InstanceView,
  fs: Filesystem,
  token: string,
  setVolumes: readonly Volume[],
): Record<string, string> {
  const own = new Set([
    settings.ordinalTagKey,
    TAG_INSTANCE,
    TAG_GROW_STATE,
    TAG_GROW_TOKEN,
    TAG_MODIFICATIONS,
    TAG_EXPAND_TOKEN,
    TAG_EXPAND_STATE,
    'berth:role',
  ]);
  const copy = (from: Record<string, string>, into: Record<string, string>) => {
    for (const [k, v] of Object.entries(from)) if (!k.startsWith('aws:') && !own.has(k)) into[k] = v;
  };
  const tags: Record<string, string> = {};
  copy(instance.tags, tags);
  const berth: Record<string, string> = {
    [settings.ownerTagKey]: settings.groupName,
    [TAG_INSTANCE]: instance.instanceId,
    [TAG_GROW_STATE]: 'pending',
    [TAG_GROW_TOKEN]: token,
  };
  if (fs.nodeId !== undefined) {
    // The set's tags (its filters match them), its NodeID and the next ordinal: the volume follows
    // the set to its next instance. NodeID, ordinal and owner tags are written only here (IAM).
    const primary =
      fs.members.find((v) => ordinalOf(settings, v) === 0) ??
      fs.members.find((v) => v.VolumeId !== undefined);
    copy(tagMap(primary?.Tags), tags);
    // Every volume of the set counts, attached here or not, members or not: a pending or refused
    // grow volume still holds its ordinal until the reconciler deletes it, and a set being
    // released (or half attached) shows only some of its volumes here. Two volumes with one
    // ordinal make the whole set unclaimable.
    const ordinals = [...fs.attached, ...setVolumes]
      .filter((v) => v.State !== 'deleted' && tagMap(v.Tags)[settings.nodeIdTagKey] === fs.nodeId)
      .map((v) => ordinalOf(settings, v) ?? 0);
    berth[settings.nodeIdTagKey] = fs.nodeId;
    berth[settings.ordinalTagKey] = String(Math.max(0, ...ordinals) + 1);
  } else {
    delete tags[settings.nodeIdTagKey];
  }
  // EC2 takes 50 tags per resource: berth's own come first.
  const merged = { ...tags, ...berth };
  const keys = [...Object.keys(berth), ...Object.keys(tags).filter((k) => !(k in berth))].slice(0, 50);
  return Object.fromEntries(keys.map((k) => [k, merged[k] ?? '']));
}

async function addDevice(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  decision: Extract<Decision, { action: 'add-device' }>,
  token: string,
  trigger: Trigger,
): Promise<GrowResult> {
  const { settings, logger } = deps;
  const growth = settings.growth as GrowthSettings;
  const setVolumes =
    fs.nodeId === undefined
      ? []
      : await listVolumes(
          deps,
          [{ Name: `tag:${settings.nodeIdTagKey}`, Values: [fs.nodeId] }],
          'set volumes',
        );
  const tags = newVolumeTags(settings, instance, fs, token, setVolumes);
  let volume: Volume;
  try {
    volume = await retrying(deps, () =>
      deps.ec2.send(
        new CreateVolumeCommand({
          AvailabilityZone: instance.availabilityZone,
          Size: decision.sizeGiB,
          VolumeType: growth.volumeType,
          ...(growth.iops !== undefined ? { Iops: growth.iops } : {}),
          ...(growth.throughput !== undefined ? { Throughput: growth.throughput } : {}),
          Encrypted: growth.encrypted,
          ...(growth.kmsKeyId !== undefined ? { KmsKeyId: growth.kmsKeyId } : {}),
          ClientToken: token,
          TagSpecifications: [{ ResourceType: 'volume', Tags: tagsToList(tags) }],
        }),
      ),
    );
  } catch (error) {
    if (errorName(error) === 'IdempotentParameterMismatch') {
      // The same trigger already made a volume with other figures (the policy moved on since).
      return noop(instance.instanceId, 'already-handled', 'this trigger already created a volume');
    }
    throw classify(error, `CreateVolume ${decision.sizeGiB} GiB for ${instance.instanceId}`);
  }
  const volumeId = volume.VolumeId;
  if (!volumeId) throw new FinalError('CreateVolume returned no VolumeId');
  logger.info('growth volume created', {
    volumeId,
    sizeGiB: decision.sizeGiB,
    figures: decision.figures,
    nextThresholdPercent: decision.nextThresholdPercent,
  });
  const known = tagMap(volume.Tags)[TAG_GROW_STATE];
  if (volume.State === 'deleting' || volume.State === 'deleted' || volume.State === 'error') {
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
  return joinVolume(deps, instance, fs, { ...volume, Tags: tagsToList(tags) }, growth, trigger, decision);
}

/** True when another live pending volume of this instance was created before `volumeId`. */
async function yieldsToAnother(deps: GrowDeps, instanceId: string, volumeId: string): Promise<boolean> {
  const pending = await listVolumes(
    deps,
    [
      { Name: `tag:${TAG_INSTANCE}`, Values: [instanceId] },
      { Name: `tag:${TAG_GROW_STATE}`, Values: ['pending', 'joining'] },
    ],
    'racing grows',
  );
  const live = pending.filter(
    (v) => v.State === 'creating' || v.State === 'available' || v.State === 'in-use',
  );
  const mine = live.find((v) => v.VolumeId === volumeId);
  if (!mine) return false;
  const key = (v: Volume) => [createdAt(v), v.VolumeId ?? ''] as const;
  const [mt, mid] = key(mine);
  return live.some((v) => {
    if (v.VolumeId === volumeId) return false;
    const [t, id] = key(v);
    return t < mt || (t === mt && id < mid);
  });
}

/** Detaches (if attached here) and deletes a volume that never joined. Best effort: logs failures. */
async function discard(deps: GrowDeps, instanceId: string, volumeId: string, why: string): Promise<boolean> {
  try {
    await detachVolume(deps, volumeId, instanceId);
    await waitForVolume(deps, volumeId, volumeAvailable, 'available');
    await retrying(deps, () => deps.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId })));
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
 * One AttachVolume: true when this call attached it (or must wait for the instance: the helper
 * does), false when the volume is already attached or attaching here (a duplicate won the race).
 */
async function attachFirst(
  deps: GrowDeps,
  volumeId: string,
  instanceId: string,
  device: string,
): Promise<'attached' | 'lost' | 'retry'> {
  try {
    await retrying(deps, () =>
      deps.ec2.send(new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device })),
    );
    return 'attached';
  } catch (error) {
    const name = errorName(error);
    if (name !== 'VolumeInUse' && name !== 'IncorrectState' && name !== 'InvalidParameterValue') {
      throw classify(error, `AttachVolume ${volumeId} to ${instanceId} at ${device}`);
    }
    const mine = attachmentTo(await describeVolume(deps, volumeId), instanceId);
    if (mine && mine.State !== 'detaching' && mine.State !== 'detached') return 'lost';
    return 'retry'; // not attached anywhere yet: the helper retries and waits
  }
}

/** Did the host step leave the device outside the filesystem? (Only then may the volume go.) */
export function notJoined(error: unknown): boolean {
  const run = (error as { cause?: unknown }).cause as Partial<ScriptRun> | undefined;
  const result = run?.result;
  if (!result) return false;
  if (result.joined === false) return true;
  return result.code === 'invalid-parameter' || result.code === 'refused';
}

/** Attach (if needed), DeleteOnTermination (scratch), grow-filesystem, tag joined, re-arm. */
async function joinVolume(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  volume: Volume,
  growth: GrowthSettings,
  trigger: Trigger,
  decision?: Extract<Decision, { action: 'add-device' }>,
): Promise<GrowResult> {
  const { settings, logger } = deps;
  const instanceId = instance.instanceId;
  const volumeId = volume.VolumeId ?? '';
  const sizeGiB = volume.Size ?? decision?.sizeGiB ?? 0;
  // A node's volume follows its set; a spare's (or a scratch group's) dies with the instance.
  const scratch = fs.nodeId === undefined;
  let stage: 'before-join' | 'host-step' = 'before-join';
  try {
    // 1. available, then attached here at a free device name.
    let current = await waitForVolume(
      deps,
      volumeId,
      (v) => v === undefined || v.State !== 'creating',
      'available',
    );
    if (
      !current ||
      current.State === 'deleting' ||
      current.State === 'deleted' ||
      current.State === 'error'
    ) {
      throw new FinalError(`${volumeId} is ${current?.State ?? 'gone'}`);
    }
    let device = attachmentTo(current, instanceId)?.Device;
    // A fresh grow attaches the volume itself: finding it attached (or losing the AttachVolume
    // race) means a duplicate of this trigger is on it. A resumed grow takes it as it is.
    if (device && decision) {
      return noop(instanceId, 'in-flight', 'a duplicate of this trigger is growing', volumeId);
    }
    if (!device) {
      // Two triggers racing for one instance: the earlier pending volume proceeds, the later one
      // yields. Checked once the volume is available (seconds after CreateVolume), by which time
      // a racing run has created its own volume, or will find this one pending and stand down.
      if (decision && (await yieldsToAnother(deps, instanceId, volumeId))) {
        await discard(deps, instanceId, volumeId, 'another grow of this instance is in flight');
        return noop(instanceId, 'in-flight', 'another grow of this instance is in flight');
      }
      const chosen = await pickDevice(deps, instance);
      const first = decision ? await attachFirst(deps, volumeId, instanceId, chosen) : 'retry';
      if (first === 'lost')
        return noop(instanceId, 'in-flight', 'a duplicate of this trigger is growing', volumeId);
      device = first === 'attached' ? chosen : await attachVolume(deps, volumeId, instanceId, chosen);
    }
    current = await waitForVolume(deps, volumeId, volumeAttachedTo(instanceId), 'attached');
    device = attachmentTo(current, instanceId)?.Device ?? device;
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
      if (stage === 'host-step') {
        // The host said the device did not join: mark it so (IAM lets berth delete only volumes
        // that never joined), then delete it.
        await tagVolume(deps, volumeId, { [TAG_GROW_STATE]: 'refused' }).catch(() => undefined);
      }
      await discard(deps, instanceId, volumeId, `grow failed: ${describeError(error).message}`);
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
    reason: trigger.kind === 'manual' ? trigger.reason : `alarm ${trigger.alarmName}`,
    ...(decision ? { figures: decision.figures } : {}),
  };
}

// ---------------------------------------------------------------------------------------------
// expand (in place)
// ---------------------------------------------------------------------------------------------

/**
 * Enlarges the target volume in place when the policy allows; `undefined` when blocked on btrfs
 * (the caller adds a device instead). ext4/xfs get the refusal.
 */
async function tryExpand(
  deps: GrowDeps,
  instance: InstanceView,
  fs: Filesystem,
  state: GrowthState,
  token: string,
  trigger: Trigger,
): Promise<GrowResult | undefined> {
  const { settings, logger } = deps;
  const growth = settings.growth as GrowthSettings;
  const instanceId = instance.instanceId;
  const target = expandTarget(state.members);
  const volume = fs.members.find((v) => v.VolumeId === target?.volumeId);
  const modification = volume?.VolumeId ? await latestModification(deps, volume.VolumeId) : undefined;
  const tags = tagMap(volume?.Tags);
  if (volume?.VolumeId && tags[TAG_EXPAND_STATE] === 'pending') {
    const startedAt = Math.max(0, ...modificationTimes(volume));
    if (tags[TAG_EXPAND_TOKEN] !== token && startedAt > deps.clock.now() - staleAfterMs(settings)) {
      return noop(instanceId, 'in-flight', 'an in-place grow of this instance is in flight', volume.VolumeId);
    }
    // Ours (a retried trigger) or abandoned: finish it without modifying again if it was modified.
    const modified =
      modification?.StartTime !== undefined && new Date(modification.StartTime).getTime() >= startedAt;
    if (modified)
      return finishExpand(
        deps,
        instance,
        volume,
        (modification.TargetSize ?? 0) - (modification.OriginalSize ?? 0),
        trigger,
      );
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
    await retrying(deps, () =>
      deps.ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: decision.newSizeGiB })),
    );
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
  return finishExpand(deps, instance, volume ?? { VolumeId: volumeId }, decision.sizeGiB, trigger);
}

/** Waits for `optimizing` (the size is usable then), runs grow-filesystem expand, re-arms. */
async function finishExpand(
  deps: GrowDeps,
  instance: InstanceView,
  volume: Volume,
  addedGiB: number,
  trigger: Trigger,
): Promise<GrowResult> {
  const { settings, logger } = deps;
  const instanceId = instance.instanceId;
  const volumeId = volume.VolumeId ?? '';
  const deadline = deps.clock.now() + settings.timeouts.commandSeconds * 1000;
  let delay = 2000;
  for (;;) {
    const m = await latestModification(deps, volumeId);
    const state = m?.ModificationState;
    if (state === 'optimizing' || state === 'completed') break;
    if (state === 'failed')
      throw new FinalError(`ModifyVolume ${volumeId} failed: ${m?.StatusMessage ?? ''}`);
    if (deps.clock.now() >= deadline)
      throw new TimeoutError(`${volumeId} did not reach optimizing in ${settings.timeouts.commandSeconds} s`);
    await deps.clock.sleep(delay);
    delay = Math.min(15000, delay * 2);
  }
  const device = attachmentTo(volume, instanceId)?.Device ?? '';
  const run = await runScript(deps, instanceId, 'growFilesystem', {
    Mode: 'expand',
    VolumeId: volumeId,
    DeviceName: device,
    MountPoint: settings.mountPoint,
  });
  logger.info('filesystem grown in place', { volumeId, result: run.result });
  await tagVolume(deps, volumeId, { [TAG_EXPAND_STATE]: 'joined' });
  await resetAlarm(deps, instanceId, `berth: enlarged ${volumeId} by ${addedGiB} GiB; re-armed`);
  return {
    grown: true,
    instanceId,
    mode: 'expand',
    volumeId,
    sizeGiB: addedGiB,
    reason: trigger.kind === 'manual' ? trigger.reason : `alarm ${trigger.alarmName}`,
  };
}
