/** The campaign's host model: what a real host's scripts would find there. */
import type { LocalCloud } from '../../../local-cloud/src';

/** BERTH_DEVICE_WAIT_SECONDS' default (agent-scripts/prepare-node.sh). */
export const DEVICE_WAIT_MS = 60_000;

/**
 * prepare-node.sh finds every volume's block device before it formats or mounts anything
 * (find_device in agent-scripts/include/common.sh, waiting up to BERTH_DEVICE_WAIT_SECONDS): a
 * volume not attached to the host fails the run with "no block device for vol-… after 60s", and
 * nothing is mounted. An attachment still `attaching` shows its device within that wait unless it
 * stuck (the local cloud's stuck attachments never complete). The error such a run fails with, or
 * undefined when every device is there.
 */
export function missingDevice(
  cloud: LocalCloud,
  instanceId: string,
  volumeIds: readonly string[],
): string | undefined {
  const absent = volumeIds.find((volumeId) => {
    if (volumeId === '') return false;
    const attachment = cloud.ec2.volume(volumeId)?.attachments.find((a) => a.instanceId === instanceId);
    if (attachment?.state === 'attached') return false;
    return !(attachment?.state === 'attaching' && !cloud.ec2.stuckAttachments.includes(volumeId));
  });
  return absent === undefined ? undefined : `no block device for ${absent} after ${DEVICE_WAIT_MS / 1000}s`;
}

/**
 * grow-filesystem.sh on a host with nothing mounted at the mount point (never prepared, or
 * quiesced) fails with "nothing is mounted at <mount point>" and joins nothing; for add-device it
 * adds joined:false when the device is blank (a device that joined a btrfs carries its superblock).
 * The failure such a run answers, or undefined when the host has its filesystem mounted.
 */
export function growWithNothingMounted(
  held: ReadonlySet<string> | undefined,
  parameters: Readonly<Record<string, string>>,
  joined: ReadonlySet<string>,
): { error: string; extra?: Record<string, unknown> } | undefined {
  if ((held?.size ?? 0) > 0) return undefined;
  const id = parameters.VolumeId;
  const blank = parameters.Mode === 'add-device' && id !== undefined && !joined.has(id);
  return {
    error: `nothing is mounted at ${parameters.MountPoint ?? '/data'}`,
    ...(blank ? { extra: { joined: false } } : {}),
  };
}
