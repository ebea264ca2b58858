/**
 * One EBS volume as berth's domain code sees it: converted once from the SDK's `Volume` at the AWS
 * layer (lambdas/aws/volumes.ts), with its tags as a map, so no flow reads `tagMap(v.Tags)` again.
 */
export interface VolumeAttachment {
  instanceId: string;
  device: string;
  /** attaching | attached | detaching | detached | busy */
  state: string;
  /** Epoch ms of the attachment (undefined when EC2 gave none). */
  attachedAt?: number;
}

export interface VolumeRecord {
  volumeId: string;
  sizeGiB: number;
  /** creating | available | in-use | deleting | deleted | error */
  state: string;
  availabilityZone: string;
  /** Epoch ms; 0 when unknown. */
  createdAt: number;
  tags: Readonly<Record<string, string>>;
  attachments: readonly VolumeAttachment[];
}

/** The attachment of a volume to one instance, if any. */
export function attachmentOf(
  volume: VolumeRecord | undefined,
  instanceId: string,
): VolumeAttachment | undefined {
  return volume?.attachments.find((a) => a.instanceId === instanceId);
}

/** Gone or going: a volume in one of these states is no member of anything any more. */
export function isGone(volume: Pick<VolumeRecord, 'state'>): boolean {
  return volume.state === 'deleting' || volume.state === 'deleted' || volume.state === 'error';
}

/** Predicate: attached to this instance. */
export const attachedTo =
  (instanceId: string) =>
  (volume: VolumeRecord | undefined): boolean =>
    attachmentOf(volume, instanceId)?.state === 'attached';

/** Predicate: available (or gone). */
export const availableOrGone = (volume: VolumeRecord | undefined): boolean =>
  volume === undefined || volume.state === 'available';

/**
 * An attachment still `attaching` after the attach wait (`attachSeconds`) is stuck: EBS's documented
 * recovery is a forced detach, safe because the device never reached the host.
 */
export function isStuckAttaching(
  state: string | undefined,
  attachTimeMs: number | undefined,
  nowMs: number,
  attachSeconds: number,
): boolean {
  return state === 'attaching' && attachTimeMs !== undefined && nowMs - attachTimeMs >= attachSeconds * 1000;
}
