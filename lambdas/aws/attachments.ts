/**
 * EC2 attachment helpers shared by launch, terminate, reconcile and grow: what an instance holds,
 * free device names, attach/detach of volumes and network interfaces with their waits. Every
 * helper treats "already in the desired state" as success, so a retried run resumes cleanly.
 */
import { isStuckAttaching } from '../domain/volume';
import {
  AttachVolumeCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeVolumesCommand,
  DetachVolumeCommand,
  ModifyInstanceAttributeCommand,
  type _InstanceType,
  type Filter,
  type Volume,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import { DEVICE_NAMES } from '../shared/contract';
import type { Deps } from '../shared/deps';
import {
  classify,
  DeviceInUseError,
  errorName,
  FinalError,
  isDeviceInUse,
  isNotFound,
  isTransient,
} from '../shared/errors';
import { poll, waitForResource } from '../shared/poll';
import { ContestedError, tagMap } from './calls';

type Ec2Deps = Pick<Deps, 'ec2' | 'clock' | 'settings' | 'logger'>;

export interface HeldVolume {
  volumeId: string;
  device: string;
  /** Attachment state: attaching | attached | detaching | detached | busy. */
  state: string;
  deleteOnTermination: boolean;
}

export interface HeldInterface {
  networkInterfaceId: string;
  deviceIndex: number;
  attachmentId: string;
  /** attaching | attached | detaching | detached. */
  status: string;
  privateIp: string;
}

export interface InstanceView {
  instanceId: string;
  /** pending | running | shutting-down | terminated | stopping | stopped */
  state: string;
  availabilityZone: string;
  vpcId: string;
  subnetId: string;
  instanceType: string;
  rootDeviceName: string;
  volumes: HeldVolume[];
  interfaces: HeldInterface[];
  tags: Record<string, string>;
  /** Epoch ms of the launch (DescribeInstances LaunchTime), if known. */
  launchTime?: number;
}

/**
 * Describes one instance: AZ, VPC, state, attached volumes (with devices) and ENIs.
 * `undefined` when it does not exist (any more).
 */
export async function describeInstance(
  deps: Pick<Deps, 'ec2' | 'clock'>,
  instanceId: string,
): Promise<InstanceView | undefined> {
  let reservations;
  try {
    const out = await deps.ec2.send(new DescribeInstancesCommand({ InstanceIds: [instanceId] }));
    reservations = out.Reservations ?? [];
  } catch (error) {
    if (isNotFound(error) || errorName(error) === 'InvalidInstanceID.Malformed') return undefined;
    throw classify(error, `DescribeInstances ${instanceId}`);
  }
  const instance = reservations.flatMap((r) => r.Instances ?? []).find((i) => i.InstanceId === instanceId);
  if (!instance) return undefined;
  return {
    instanceId,
    state: instance.State?.Name ?? 'unknown',
    availabilityZone: instance.Placement?.AvailabilityZone ?? '',
    vpcId: instance.VpcId ?? '',
    subnetId: instance.SubnetId ?? '',
    instanceType: instance.InstanceType ?? '',
    rootDeviceName: instance.RootDeviceName ?? '',
    volumes: (instance.BlockDeviceMappings ?? []).flatMap((m) =>
      m.Ebs?.VolumeId
        ? [
            {
              volumeId: m.Ebs.VolumeId,
              device: m.DeviceName ?? '',
              state: m.Ebs.Status ?? 'attached',
              deleteOnTermination: m.Ebs.DeleteOnTermination ?? false,
            },
          ]
        : [],
    ),
    interfaces: (instance.NetworkInterfaces ?? []).flatMap((n) =>
      n.NetworkInterfaceId
        ? [
            {
              networkInterfaceId: n.NetworkInterfaceId,
              deviceIndex: n.Attachment?.DeviceIndex ?? -1,
              attachmentId: n.Attachment?.AttachmentId ?? '',
              status: n.Attachment?.Status ?? 'attached',
              privateIp: n.PrivateIpAddress ?? '',
            },
          ]
        : [],
    ),
    tags: tagMap(instance.Tags),
    ...(instance.LaunchTime ? { launchTime: new Date(instance.LaunchTime).getTime() } : {}),
  };
}

export interface AttachmentLimit {
  /** EbsInfo.MaximumEbsAttachments of the instance type. */
  maxEbsAttachments: number;
  /** `shared`: ENIs and instance-store volumes count against the limit too; `dedicated`: EBS only. */
  limitType: 'shared' | 'dedicated';
}

/** Nitro's shared limit, for the rare type that reports none. */
const FALLBACK_LIMIT: AttachmentLimit = { maxEbsAttachments: 28, limitType: 'shared' };
const limitCache = new Map<string, Promise<AttachmentLimit>>();

/**
 * The attachment limit of an instance type, read once per container from DescribeInstanceTypes
 * (concurrent askers share the one call; a failed read is asked again next time).
 */
export async function instanceAttachmentLimit(
  deps: Pick<Deps, 'ec2' | 'clock' | 'logger'>,
  instanceType: string,
): Promise<AttachmentLimit> {
  const cached = limitCache.get(instanceType);
  if (cached) return cached;
  const read = readAttachmentLimit(deps, instanceType);
  limitCache.set(instanceType, read);
  read.catch(() => limitCache.delete(instanceType));
  return read;
}

async function readAttachmentLimit(
  deps: Pick<Deps, 'ec2' | 'clock' | 'logger'>,
  instanceType: string,
): Promise<AttachmentLimit> {
  let limit = FALLBACK_LIMIT;
  try {
    const out = await deps.ec2.send(
      new DescribeInstanceTypesCommand({ InstanceTypes: [instanceType as _InstanceType] }),
    );
    const ebs = out.InstanceTypes?.[0]?.EbsInfo;
    if (ebs?.MaximumEbsAttachments !== undefined) {
      limit = {
        maxEbsAttachments: ebs.MaximumEbsAttachments,
        limitType: ebs.AttachmentLimitType === 'dedicated' ? 'dedicated' : 'shared',
      };
    } else {
      deps.logger.warn('instance type reports no EBS attachment limit; assuming the shared 28', {
        instanceType,
      });
    }
  } catch (error) {
    if (isTransient(error)) throw classify(error, `DescribeInstanceTypes ${instanceType}`);
    deps.logger.warn('could not read the EBS attachment limit; assuming the shared 28', {
      instanceType,
      error: { name: errorName(error) },
    });
  }
  return limit;
}

/** How many more EBS volumes the instance may take under its limit. */
export function freeVolumeSlots(instance: InstanceView, limit: AttachmentLimit): number {
  const used = instance.volumes.length + (limit.limitType === 'shared' ? instance.interfaces.length : 0);
  return Math.max(0, limit.maxEbsAttachments - used);
}

/** Device names berth requests, in order (lambdas/shared/contract.ts: EC2's documented Linux names). */
export function* deviceNames(): Generator<string> {
  yield* DEVICE_NAMES;
}

/** `/dev/xvdf` and `/dev/sdf` name the same slot. */
function normalizeDevice(device: string): string {
  return device.replace(/^\/dev\/xvd/, '/dev/sd').replace(/^(\/dev\/sd[a-z]+)\d+$/, '$1');
}

/** Device names detached by this process (per instance): not reused while the process lives. */
const recentlyDetached = new Map<string, Set<string>>();

export function rememberDetached(instanceId: string, device: string): void {
  const set = recentlyDetached.get(instanceId) ?? new Set<string>();
  set.add(normalizeDevice(device));
  recentlyDetached.set(instanceId, set);
}

/**
 * The first device name not in use, not just detached (AWS: a name being detached may still be
 * bound on the host) and within the limit; `undefined` when the instance is full. `usedDevices`
 * includes volumes in every attachment state (attaching, detaching) and the root device.
 */
export function nextFreeDevice(
  usedDevices: readonly string[],
  limit: number,
  avoid: readonly string[] = [],
): string | undefined {
  if (usedDevices.length >= limit) return undefined;
  const taken = new Set([...usedDevices, ...avoid].map(normalizeDevice));
  for (const name of deviceNames()) if (!taken.has(normalizeDevice(name))) return name;
  return undefined;
}

/** A free device name for one more volume on this instance (or a FinalError when full). */
export async function pickDevice(
  deps: Pick<Deps, 'ec2' | 'clock' | 'logger'>,
  instance: InstanceView,
  extraUsed: readonly string[] = [],
): Promise<string> {
  const limit = await instanceAttachmentLimit(deps, instance.instanceType);
  // A name the view already shows and the caller lists too (a volume it just attached) counts once.
  const extra = extraUsed.filter(
    (d) => d !== '' && !instance.volumes.some((v) => normalizeDevice(v.device) === normalizeDevice(d)),
  );
  const slots = freeVolumeSlots(instance, limit) - new Set(extra.map(normalizeDevice)).size;
  const used = [instance.rootDeviceName, ...instance.volumes.map((v) => v.device), ...extra].filter(
    (d) => d !== '',
  );
  if (slots <= 0) {
    throw new FinalError(
      `${instance.instanceId} (${instance.instanceType}) has no free EBS attachment slot (${limit.limitType} limit ${limit.maxEbsAttachments}): use a larger instance type or lower growth.maxVolumes`,
    );
  }
  const device = nextFreeDevice(used, Number.MAX_SAFE_INTEGER, [
    ...(recentlyDetached.get(instance.instanceId) ?? []),
  ]);
  if (!device) {
    throw new FinalError(
      `${instance.instanceId} uses every device name EC2 documents for EBS on Linux (${DEVICE_NAMES.length}): lower growth.maxVolumes or use fewer volumes per set`,
    );
  }
  return device;
}

/** One volume as DescribeVolumes returns it, or `undefined` when it does not exist. */
async function describeVolume(
  deps: Pick<Deps, 'ec2' | 'clock'>,
  volumeId: string,
): Promise<Volume | undefined> {
  try {
    const out = await deps.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    return out.Volumes?.find((v) => v.VolumeId === volumeId);
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw classify(error, `DescribeVolumes ${volumeId}`);
  }
}

/** The attachment of a volume to one instance, if any. */
export function attachmentTo(volume: Volume | undefined, instanceId: string) {
  return volume?.Attachments?.find((a) => a.InstanceId === instanceId);
}

export interface AttachOptions {
  /**
   * Called when the volume was found attached to this instance already (another run attached it,
   * or a lost answer to this run's own call): the caller must not count it as its own to undo.
   */
  onFound?: () => void;
}

/**
 * Attaches a volume. Already attached (or attaching) to this instance counts as success; held by
 * another instance throws ContestedError; `IncorrectState` while the instance boots is waited out
 * (bounded by timeouts.attachSeconds and the invocation's deadline); a device name another run
 * took first throws DeviceInUseError, unless that run attached this very volume (then it is ours).
 * Returns the device name the volume is attached at.
 */
export async function attachVolume(
  deps: Ec2Deps,
  volumeId: string,
  instanceId: string,
  device: string,
  options: AttachOptions = {},
): Promise<string> {
  let last = '';
  return poll(
    deps,
    async () => {
      try {
        await deps.ec2.send(
          new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }),
        );
        return device;
      } catch (error) {
        const name = errorName(error);
        // Still throttled after the retries: the request bucket refills every second; keep
        // trying within the attach bound rather than giving the launch up.
        if (isTransient(error)) {
          last = name;
          return undefined;
        }
        const deviceTaken = isDeviceInUse(error);
        if (
          !deviceTaken &&
          name !== 'VolumeInUse' &&
          name !== 'IncorrectState' &&
          name !== 'IncorrectInstanceState'
        ) {
          throw classify(error, `AttachVolume ${volumeId} to ${instanceId} at ${device}`);
        }
        const volume = await describeVolume(deps, volumeId);
        const mine = attachmentTo(volume, instanceId);
        if (mine && mine.State !== 'detaching' && mine.State !== 'detached') {
          options.onFound?.();
          return mine.Device ?? device;
        }
        if (deviceTaken) {
          throw new DeviceInUseError(
            `AttachVolume ${volumeId} to ${instanceId}: ${device} was taken by another attachment first`,
            device,
            { cause: error },
          );
        }
        const other = volume?.Attachments?.find((a) => a.InstanceId !== instanceId && a.State !== 'detached');
        if (other || (volume && volume.State !== 'available')) {
          throw new ContestedError(
            `${volumeId} is held by ${other?.InstanceId ?? 'another instance'} (${volume?.State ?? 'gone'})`,
            other?.InstanceId,
            { cause: error },
          );
        }
        if (!volume) throw new FinalError(`AttachVolume ${volumeId}: the volume no longer exists`);
        // The volume is available: the instance is not running yet (or a detach just finished).
        last = name;
        return undefined;
      }
    },
    {
      what: `AttachVolume ${volumeId} to ${instanceId}`,
      timeoutSeconds: deps.settings.timeouts.attachSeconds,
      intervalMs: 2000,
      maxIntervalMs: 8000,
      describe: () => last,
    },
  );
}

/**
 * Attaches a volume at a free device name of the instance. A name lost to a concurrent run (two
 * runs of one launch pick the same free name) is a lost race for that name only: the instance is
 * read again and the next free name taken. Returns the device the volume is attached at.
 */
export async function attachAtFreeDevice(
  deps: Ec2Deps,
  instance: InstanceView,
  volumeId: string,
  extraUsed: readonly string[] = [],
  options: AttachOptions = {},
): Promise<string> {
  let view = instance;
  const lost: string[] = [];
  for (let attempt = 1; ; attempt++) {
    const device = await pickDevice(deps, view, [...extraUsed, ...lost]);
    try {
      return await attachVolume(deps, volumeId, view.instanceId, device, options);
    } catch (error) {
      if (!(error instanceof DeviceInUseError) || attempt >= 8) throw error;
      deps.logger.info('device name taken by a concurrent attachment: picking another', {
        volumeId,
        device,
      });
      lost.push(device);
      view = (await describeInstance(deps, instance.instanceId)) ?? view;
    }
  }
}

/** Polls until the volume satisfies `predicate` (within timeouts.attachSeconds and the deadline). */
export async function waitForVolume(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings' | 'deadline'>,
  volumeId: string,
  predicate: (volume: Volume | undefined) => boolean,
  what = 'the expected state',
): Promise<Volume | undefined> {
  return waitForResource(
    deps,
    `${volumeId} ${what}`,
    () => describeVolume(deps, volumeId),
    predicate,
    (v) => `${v?.State ?? 'gone'}/${v?.Attachments?.[0]?.State ?? '-'}`,
  );
}

/**
 * EBS attachments take seconds, not milliseconds: the first look at a just-attached set comes this
 * long after the attach calls (then every look backs off), instead of polling from the start.
 */
export const ATTACH_FIRST_LOOK_MS = 1000;

/**
 * Waits until every volume satisfies `predicate`, with ONE DescribeVolumes per look for all of
 * them (not one per volume), first looking after ATTACH_FIRST_LOOK_MS; bounded by
 * timeouts.attachSeconds and the deadline. Returns the volumes as last described, in the order of
 * `volumeIds` (undefined for a volume that no longer exists).
 */
export async function waitForVolumes(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings' | 'deadline'>,
  volumeIds: readonly string[],
  predicate: (volume: Volume | undefined) => boolean,
  what = 'the expected state',
): Promise<(Volume | undefined)[]> {
  if (volumeIds.length === 0) return [];
  let seen: (Volume | undefined)[] = [];
  return poll(
    deps,
    async () => {
      const found = await listVolumes(deps as Ec2Deps, [{ Name: 'volume-id', Values: [...volumeIds] }], what);
      seen = volumeIds.map((id) => found.find((v) => v.VolumeId === id));
      return seen.every(predicate) ? seen : undefined;
    },
    {
      what: `${volumeIds.join(',')} ${what}`,
      timeoutSeconds: deps.settings.timeouts.attachSeconds,
      firstDelayMs: ATTACH_FIRST_LOOK_MS,
      intervalMs: 1000,
      maxIntervalMs: 5000,
      describe: () =>
        seen
          .map((v, i) => `${volumeIds[i]}:${v?.State ?? 'gone'}/${v?.Attachments?.[0]?.State ?? '-'}`)
          .join(' '),
    },
  );
}

/** Predicate: attached to this instance. */
export const volumeAttachedTo =
  (instanceId: string) =>
  (volume: Volume | undefined): boolean =>
    attachmentTo(volume, instanceId)?.State === 'attached';

/** Predicate: available (or gone). */
export const volumeAvailable = (volume: Volume | undefined): boolean =>
  volume === undefined || volume.State === 'available';

/**
 * Detaches a volume from an instance (never forced). Already detached, detaching or gone counts as
 * success; the caller waits with `waitForVolume(…, volumeAvailable)`.
 */
export async function detachVolume(deps: Ec2Deps, volumeId: string, instanceId: string): Promise<void> {
  const volume = await describeVolume(deps, volumeId);
  const attachment = attachmentTo(volume, instanceId);
  if (!attachment || attachment.State === 'detaching' || attachment.State === 'detached') return;
  // An attachment still `attaching` after the attach wait is stuck: EBS's documented recovery is a
  // forced detach (EBS User Guide, troubleshooting "volume stuck in the attaching state"). It is
  // safe only because such a volume never reached the host as a device, so nothing can have
  // mounted it; an `attached` volume is never forced.
  const since = attachment.AttachTime ? new Date(attachment.AttachTime).getTime() : deps.clock.now();
  const stuck = isStuckAttaching(
    attachment.State,
    since,
    deps.clock.now(),
    deps.settings.timeouts.attachSeconds,
  );
  try {
    await deps.ec2.send(
      new DetachVolumeCommand({
        VolumeId: volumeId,
        InstanceId: instanceId,
        ...(stuck ? { Force: true } : {}),
      }),
    );
    if (attachment.Device) rememberDetached(instanceId, attachment.Device);
  } catch (error) {
    const name = errorName(error);
    if (isNotFound(error) || name === 'IncorrectState') {
      const again = attachmentTo(await describeVolume(deps, volumeId), instanceId);
      if (!again || again.State === 'detaching' || again.State === 'detached') return;
    }
    throw classify(error, `DetachVolume ${volumeId} from ${instanceId}`);
  }
}

/**
 * Marks an attached volume to be deleted with its instance (a scratch volume). Set after the attach:
 * AttachVolume always leaves DeleteOnTermination false, so the reconciler also reaps any that leak.
 */
export async function deleteOnTermination(
  deps: Ec2Deps,
  instanceId: string,
  device: string,
  volumeId: string,
): Promise<void> {
  await deps.ec2.send(
    new ModifyInstanceAttributeCommand({
      InstanceId: instanceId,
      BlockDeviceMappings: [{ DeviceName: device, Ebs: { VolumeId: volumeId, DeleteOnTermination: true } }],
    }),
  );
}

/** Every volume matching server-side filters, all pages (the SDK's paginator). */
async function listVolumes(deps: Ec2Deps, filters: Filter[], what: string): Promise<Volume[]> {
  const volumes: Volume[] = [];
  try {
    const pages = paginateDescribeVolumes({ client: deps.ec2 }, { Filters: filters });
    for await (const page of pages) volumes.push(...(page.Volumes ?? []));
  } catch (error) {
    throw classify(error, `DescribeVolumes (${what})`);
  }
  return volumes;
}

/**
 * Waits until the instance is `running` (AttachVolume answers IncorrectState before), bounded by
 * timeouts.attachSeconds and the deadline. Returns the fresh view, or `undefined` if it vanished
 * or is going away.
 */
export async function waitForRunning(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings' | 'deadline'>,
  instance: InstanceView,
): Promise<InstanceView | undefined> {
  if (instance.state !== 'pending') return instance.state === 'running' ? instance : undefined;
  let view: InstanceView | undefined;
  const found = await poll(
    deps,
    async () => {
      view = await describeInstance(deps, instance.instanceId);
      return view?.state === 'pending' ? undefined : { view };
    },
    {
      what: `${instance.instanceId} running`,
      timeoutSeconds: deps.settings.timeouts.attachSeconds,
      firstDelayMs: 5000,
      intervalMs: 5000,
      describe: () => view?.state ?? 'gone',
    },
  );
  return found.view?.state === 'running' ? found.view : undefined;
}
