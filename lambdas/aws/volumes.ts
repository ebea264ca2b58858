/**
 * EBS volumes at the AWS boundary: each SDK `Volume` becomes one domain `VolumeRecord` here, and
 * the grow flow's own EC2 and Auto Scaling calls live here. Retries are the SDK's (clients.ts);
 * lists use the SDK's paginators. Errors are mapped once (lambdas/shared/errors.ts).
 */
import { DescribeAutoScalingInstancesCommand } from '@aws-sdk/client-auto-scaling';
import {
  AttachVolumeCommand,
  CreateTagsCommand,
  CreateVolumeCommand,
  DeleteVolumeCommand,
  DescribeVolumesCommand,
  DescribeVolumesModificationsCommand,
  ModifyVolumeCommand,
  paginateDescribeVolumes,
  type Tag,
  type Volume,
  type VolumeModification,
  type VolumeType,
} from '@aws-sdk/client-ec2';
import type { Deps } from '../shared/deps';
import { classify, errorName, isNotFound } from '../shared/errors';
import { readWhenVisible, waitForResource } from '../shared/poll';
import type { VolumeRecord } from '../domain/volume';

type Ec2Deps = Pick<Deps, 'ec2'>;

/** A server-side filter of DescribeVolumes (`tag:K`, `attachment.instance-id`, `volume-id` …). */
export interface VolumeFilter {
  name: string;
  values: readonly string[];
}

export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  return out;
}

export function tagList(tags: Readonly<Record<string, string>>): Tag[] {
  return Object.entries(tags).map(([Key, Value]) => ({ Key, Value }));
}

function epochMs(date: Date | string | undefined): number | undefined {
  if (date === undefined) return undefined;
  const ms = new Date(date).getTime();
  return Number.isFinite(ms) ? ms : undefined;
}

/** The one conversion from the SDK's shape. */
export function toVolumeRecord(volume: Volume): VolumeRecord {
  return {
    volumeId: volume.VolumeId ?? '',
    sizeGiB: volume.Size ?? 0,
    state: volume.State ?? 'unknown',
    availabilityZone: volume.AvailabilityZone ?? '',
    createdAt: epochMs(volume.CreateTime) ?? 0,
    tags: tagMap(volume.Tags),
    attachments: (volume.Attachments ?? []).map((a) => {
      const attachedAt = epochMs(a.AttachTime);
      return {
        instanceId: a.InstanceId ?? '',
        device: a.Device ?? '',
        state: a.State ?? 'unknown',
        ...(attachedAt !== undefined ? { attachedAt } : {}),
      };
    }),
  };
}

/** Every volume matching the filters, all pages (the SDK's paginator). */
export async function findVolumes(
  deps: Ec2Deps,
  filters: readonly VolumeFilter[],
  what: string,
): Promise<VolumeRecord[]> {
  const records: VolumeRecord[] = [];
  try {
    const pages = paginateDescribeVolumes(
      { client: deps.ec2 },
      { Filters: filters.map((f) => ({ Name: f.name, Values: [...f.values] })) },
    );
    for await (const page of pages) for (const v of page.Volumes ?? []) records.push(toVolumeRecord(v));
  } catch (error) {
    throw classify(error, `DescribeVolumes (${what})`);
  }
  return records;
}

/** One volume, or `undefined` when it does not exist. */
export async function findVolume(deps: Ec2Deps, volumeId: string): Promise<VolumeRecord | undefined> {
  try {
    const out = await deps.ec2.send(new DescribeVolumesCommand({ VolumeIds: [volumeId] }));
    const found = out.Volumes?.find((v) => v.VolumeId === volumeId);
    return found ? toVolumeRecord(found) : undefined;
  } catch (error) {
    if (isNotFound(error)) return undefined;
    throw classify(error, `DescribeVolumes ${volumeId}`);
  }
}

/** Polls until the volume satisfies `predicate` (within timeouts.attachSeconds and the deadline). */
export async function awaitVolume(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings' | 'deadline'>,
  volumeId: string,
  predicate: (volume: VolumeRecord | undefined) => boolean,
  what = 'the expected state',
): Promise<VolumeRecord | undefined> {
  // The caller just created, listed or acted on the volume: a NotFound at the first look may be
  // EC2's eventual consistency, and is believed only after the consistency window.
  let first = true;
  const read = () => findVolume(deps, volumeId);
  return waitForResource(
    deps,
    `${volumeId} ${what}`,
    async () => {
      if (!first) return read();
      first = false;
      return readWhenVisible(deps, volumeId, read);
    },
    predicate,
    (v) => `${v?.state ?? 'gone'}/${v?.attachments[0]?.state ?? '-'}`,
  );
}

/** Writes tags on a volume (CreateTags overwrites the values of existing keys). */
export async function tagVolume(
  deps: Ec2Deps,
  volumeId: string,
  tags: Record<string, string>,
): Promise<void> {
  try {
    await deps.ec2.send(new CreateTagsCommand({ Resources: [volumeId], Tags: tagList(tags) }));
  } catch (error) {
    throw classify(error, `CreateTags ${volumeId}`);
  }
}

export interface NewVolume {
  availabilityZone: string;
  sizeGiB: number;
  volumeType: string;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  /** Idempotency: the same token returns the same volume. */
  clientToken: string;
  tags: Record<string, string>;
}

/** CreateVolume; the SDK's error is thrown as is (the caller tells IdempotentParameterMismatch apart). */
export async function createVolume(deps: Ec2Deps, spec: NewVolume): Promise<VolumeRecord> {
  const volume = await deps.ec2.send(
    new CreateVolumeCommand({
      AvailabilityZone: spec.availabilityZone,
      Size: spec.sizeGiB,
      VolumeType: spec.volumeType as VolumeType,
      ...(spec.iops !== undefined ? { Iops: spec.iops } : {}),
      ...(spec.throughput !== undefined ? { Throughput: spec.throughput } : {}),
      Encrypted: spec.encrypted,
      ...(spec.kmsKeyId !== undefined ? { KmsKeyId: spec.kmsKeyId } : {}),
      ClientToken: spec.clientToken,
      TagSpecifications: [{ ResourceType: 'volume', Tags: tagList(spec.tags) }],
    }),
  );
  return toVolumeRecord(volume);
}

/** DeleteVolume; the SDK's error is thrown as is (the caller tells not-found apart). */
export async function deleteVolume(deps: Ec2Deps, volumeId: string): Promise<void> {
  await deps.ec2.send(new DeleteVolumeCommand({ VolumeId: volumeId }));
}

/** One AttachVolume call, nothing more (the race handling is the caller's). */
export async function attachVolumeOnce(
  deps: Ec2Deps,
  volumeId: string,
  instanceId: string,
  device: string,
): Promise<void> {
  await deps.ec2.send(
    new AttachVolumeCommand({ VolumeId: volumeId, InstanceId: instanceId, Device: device }),
  );
}

/** One volume modification as the grow flow reads it. */
export interface Modification {
  state: string;
  /** Epoch ms; undefined when EC2 gave none. */
  startedAt?: number;
  originalSizeGiB: number;
  targetSizeGiB: number;
  statusMessage?: string;
}

function toModification(m: VolumeModification): Modification {
  const startedAt = epochMs(m.StartTime);
  return {
    state: m.ModificationState ?? 'unknown',
    ...(startedAt !== undefined ? { startedAt } : {}),
    originalSizeGiB: m.OriginalSize ?? 0,
    targetSizeGiB: m.TargetSize ?? 0,
    ...(m.StatusMessage !== undefined ? { statusMessage: m.StatusMessage } : {}),
  };
}

/** The volume's newest modification, if any. */
export async function latestModification(deps: Ec2Deps, volumeId: string): Promise<Modification | undefined> {
  try {
    const out = await deps.ec2.send(new DescribeVolumesModificationsCommand({ VolumeIds: [volumeId] }));
    const newest = (out.VolumesModifications ?? [])
      .filter((m) => m.VolumeId === volumeId)
      .sort((a, b) => new Date(b.StartTime ?? 0).getTime() - new Date(a.StartTime ?? 0).getTime())[0];
    return newest ? toModification(newest) : undefined;
  } catch (error) {
    if (errorName(error) === 'InvalidVolumeModification.NotFound') return undefined;
    throw classify(error, `DescribeVolumesModifications ${volumeId}`);
  }
}

/** ModifyVolume to a new size; the SDK's error is thrown as is (the caller tells the refusals apart). */
export async function modifyVolumeSize(deps: Ec2Deps, volumeId: string, sizeGiB: number): Promise<void> {
  await deps.ec2.send(new ModifyVolumeCommand({ VolumeId: volumeId, Size: sizeGiB }));
}

/** The instance's Auto Scaling lifecycle state in this group (undefined: not in it). */
export async function lifecycleStateOf(
  deps: Pick<Deps, 'autoScaling' | 'settings'>,
  instanceId: string,
): Promise<string | undefined> {
  try {
    const out = await deps.autoScaling.send(
      new DescribeAutoScalingInstancesCommand({ InstanceIds: [instanceId] }),
    );
    const mine = (out.AutoScalingInstances ?? []).find(
      (i) => i.InstanceId === instanceId && i.AutoScalingGroupName === deps.settings.groupName,
    );
    return mine?.LifecycleState;
  } catch (error) {
    throw classify(error, `DescribeAutoScalingInstances ${instanceId}`);
  }
}
