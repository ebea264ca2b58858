/**
 * The pure half of a grow: what an instance's filesystem is made of, what berth's tags say about
 * grows in flight and the last grow, the tags of a new volume, and the idempotency token of a
 * trigger. No AWS call here: the flow (core.ts, expand.ts) lists, asks these, then acts.
 */
import { createHash } from 'node:crypto';
import type { Settings } from '../shared/config';
import { isGone, type VolumeRecord } from '../domain/volume';
import type { Decision, Figures, GrowthState } from '../domain/growth-policy';
import {
  TAG_EXPAND_STATE,
  TAG_EXPAND_TOKEN,
  TAG_GROW_STATE,
  TAG_GROW_TOKEN,
  TAG_INSTANCE,
  TAG_MODIFICATIONS,
  TAG_ROLE,
  countedInFilesystem,
} from '../domain/growth-tags';

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
  | 'two-sets'
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

/** What the result names as the grow's reason. */
export function reasonOf(trigger: Trigger): string {
  return trigger.kind === 'manual' ? trigger.reason : `alarm ${trigger.alarmName}`;
}

/** The filesystem an instance carries: its set's volumes, or its scratch volumes. */
export interface Filesystem {
  nodeId?: string;
  /** Every NodeID among the attached volumes: more than one means no set can be told to grow. */
  nodeIds: string[];
  members: VolumeRecord[];
  /** Attached volumes, all of them (for devices and cooldown). */
  attached: VolumeRecord[];
}

export function filesystemOf(settings: Settings, instanceId: string, attached: VolumeRecord[]): Filesystem {
  const nodeIds = [
    ...new Set(
      attached
        .map((v) => v.tags[settings.nodeIdTagKey])
        .filter((id): id is string => id !== undefined && id !== ''),
    ),
  ];
  const nodeId = nodeIds[0];
  const members = attached.filter(({ tags }) => {
    // One rule (domain/growth-tags.ts `membership`): whatever may hold the filesystem's data counts.
    if (!countedInFilesystem(tags, instanceId)) return false;
    if (nodeId !== undefined) return tags[settings.nodeIdTagKey] === nodeId;
    return tags[settings.ownerTagKey] === settings.groupName && tags[TAG_INSTANCE] === instanceId;
  });
  return { ...(nodeId !== undefined ? { nodeId } : {}), nodeIds, members, attached };
}

export function ordinalOf(settings: Settings, volume: VolumeRecord): number | undefined {
  const raw = volume.tags[settings.ordinalTagKey];
  const n = raw === undefined ? NaN : Number(raw);
  return Number.isInteger(n) ? n : undefined;
}

/** Epoch ms of the in-place grows berth recorded on a volume (its modifications tag). */
export function modificationTimes(volume: VolumeRecord | undefined): number[] {
  return (volume?.tags[TAG_MODIFICATIONS] ?? '')
    .split(' ')
    .filter((s) => s !== '')
    .map((s) => Number(s) * 1000)
    .filter((t) => Number.isFinite(t));
}

/** When berth last grew this instance: its newest joined volume, or its newest modification. */
export function lastGrowAt(instanceId: string, fs: Filesystem): number | undefined {
  let last: number | undefined;
  for (const v of fs.attached) {
    if (v.tags[TAG_INSTANCE] === instanceId && v.tags[TAG_GROW_STATE] === 'joined') {
      last = Math.max(last ?? 0, v.createdAt);
    }
    for (const t of modificationTimes(v)) last = Math.max(last ?? 0, t);
  }
  return last;
}

/** Grows of this instance that are not over: in flight (recent) or abandoned (past `staleBefore`). */
export function pendingGrows(
  pending: readonly VolumeRecord[],
  staleBefore: number,
): { inFlight?: VolumeRecord; abandoned?: VolumeRecord } {
  const live = pending.filter((v) => !isGone(v));
  const inFlight = live.find((v) => v.createdAt > staleBefore);
  if (inFlight) return { inFlight };
  const abandoned = [...live].sort((a, b) => a.createdAt - b.createdAt)[0];
  return abandoned?.volumeId ? { abandoned } : {};
}

/**
 * Two triggers racing for one instance: the earlier live pending volume (creation time, then id)
 * proceeds; true when `volumeId` must yield to another one.
 */
export function yieldsToAnother(pending: readonly VolumeRecord[], volumeId: string): boolean {
  const live = pending.filter(
    (v) => v.state === 'creating' || v.state === 'available' || v.state === 'in-use',
  );
  const mine = live.find((v) => v.volumeId === volumeId);
  if (!mine) return false;
  return live.some(
    (v) =>
      v.volumeId !== volumeId &&
      (v.createdAt < mine.createdAt || (v.createdAt === mine.createdAt && v.volumeId < mine.volumeId)),
  );
}

/** The figures the policy decides on (attachment slots and the clock come from the flow). */
export function growthStateOf(
  settings: Settings,
  instanceId: string,
  fs: Filesystem,
  trigger: Trigger,
  context: { freeAttachmentSlots: number; now: number },
): GrowthState {
  const last = lastGrowAt(instanceId, fs);
  return {
    members: fs.members.map((v) => {
      const ordinal = fs.nodeId !== undefined ? ordinalOf(settings, v) : undefined;
      return { volumeId: v.volumeId, sizeGiB: v.sizeGiB, ...(ordinal !== undefined ? { ordinal } : {}) };
    }),
    freeAttachmentSlots: context.freeAttachmentSlots,
    now: context.now,
    ...(last !== undefined ? { lastGrowAt: last } : {}),
    ...(trigger.kind === 'manual' ? { manual: true } : {}),
    ...(trigger.kind === 'manual' && trigger.sizeGiB !== undefined
      ? { requestedSizeGiB: trigger.sizeGiB }
      : {}),
  };
}

/** Tags of a new volume: the instance's (never `aws:`), the set's for a node, berth's own. */
export function newVolumeTags(
  settings: Settings,
  instance: { instanceId: string; tags: Readonly<Record<string, string>> },
  fs: Filesystem,
  token: string,
  setVolumes: readonly VolumeRecord[],
): Record<string, string> {
  const own = new Set([
    settings.ordinalTagKey,
    TAG_INSTANCE,
    TAG_GROW_STATE,
    TAG_GROW_TOKEN,
    TAG_MODIFICATIONS,
    TAG_EXPAND_TOKEN,
    TAG_EXPAND_STATE,
    TAG_ROLE,
  ]);
  const copy = (from: Readonly<Record<string, string>>, into: Record<string, string>) => {
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
      fs.members.find((v) => ordinalOf(settings, v) === 0) ?? fs.members.find((v) => v.volumeId !== '');
    copy(primary?.tags ?? {}, tags);
    // Every volume of the set counts, attached here or not, members or not: a pending or refused
    // grow volume still holds its ordinal until the reconciler deletes it, and a set being
    // released (or half attached) shows only some of its volumes here. Two volumes with one
    // ordinal make the whole set unclaimable.
    const ordinals = [...fs.attached, ...setVolumes]
      .filter((v) => v.state !== 'deleted' && v.tags[settings.nodeIdTagKey] === fs.nodeId)
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
