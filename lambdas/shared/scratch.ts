/**
 * Scratch mode (the seed's main use): an instance that holds no node set (a scratch group's
 * instance, or a spare when `growth.scratch.forSpares`) gets one scratch volume at launch,
 * formatted and mounted by prepare-node, that dies with the instance. It then grows like any node.
 */
import { createHash } from 'node:crypto';
import { awaitVolume, createVolume, deleteVolume } from '../aws/volumes';
import {
  attachVolume,
  deleteOnTermination,
  describeInstance,
  detachVolume,
  pickDevice,
} from '../aws/attachments';
import type { Deps } from './deps';
import { classify, describeError, errorName, FinalError, isNotFound } from './errors';
import { runScript } from '../aws/run-command';
import { TAG_INSTANCE, TAG_ROLE } from '../domain/growth-tags';
import { attachedTo, attachmentOf, availableOrGone, type VolumeRecord } from '../domain/volume';

export interface ScratchVolume {
  volumeId: string;
  device: string;
  sizeGiB: number;
}

/** ClientToken of an instance's scratch volume: a retried launch gets the same volume. */
export function scratchToken(groupName: string, instanceId: string): string {
  return createHash('sha256').update(`scratch|${groupName}|${instanceId}`).digest('hex');
}

/**
 * Creates, attaches (DeleteOnTermination true) and prepares the scratch volume of an instance that
 * holds no set. Idempotent: the ClientToken returns the same volume, an attached volume is not
 * attached again, and prepare-node is safe to run twice. A volume that fails before prepare-node
 * is detached and deleted; later failures leave it to die with the instance (or to the reaper).
 */
export async function provisionScratch(deps: Deps, instanceId: string): Promise<ScratchVolume> {
  const { settings, logger } = deps;
  const growth = settings.growth;
  if (!growth?.scratch.enabled) {
    throw new FinalError(
      `${settings.groupName}: growth.scratch is not enabled; no scratch volume for ${instanceId}`,
    );
  }
  const instance = await describeInstance(deps, instanceId);
  if (!instance || instance.state === 'shutting-down' || instance.state === 'terminated') {
    throw new FinalError(`${instanceId} is ${instance?.state ?? 'gone'}: no scratch volume`);
  }
  const tags: Record<string, string> = {};
  for (const [k, v] of Object.entries(instance.tags)) {
    if (!k.startsWith('aws:') && k !== settings.nodeIdTagKey && k !== settings.ordinalTagKey) tags[k] = v;
  }
  Object.assign(tags, {
    [settings.ownerTagKey]: settings.groupName,
    [TAG_INSTANCE]: instanceId,
    [TAG_ROLE]: 'scratch',
  });
  const sizeGiB = growth.scratch.sizeGiB;
  let volume: VolumeRecord;
  try {
    volume = await createVolume(deps, {
      availabilityZone: instance.availabilityZone,
      sizeGiB,
      volumeType: growth.volumeType,
      ...(growth.iops !== undefined ? { iops: growth.iops } : {}),
      ...(growth.throughput !== undefined ? { throughput: growth.throughput } : {}),
      encrypted: growth.encrypted,
      ...(growth.kmsKeyId !== undefined ? { kmsKeyId: growth.kmsKeyId } : {}),
      clientToken: scratchToken(settings.groupName, instanceId),
      // EC2 takes 50 tags per resource: berth's own, written last, are kept.
      tags: Object.fromEntries(Object.entries(tags).slice(-50)),
    });
  } catch (error) {
    throw classify(error, `CreateVolume (scratch) for ${instanceId}`);
  }
  const volumeId = volume.volumeId;
  if (!volumeId) throw new FinalError('CreateVolume returned no VolumeId');
  if (volume.state === 'deleting' || volume.state === 'deleted') {
    throw new FinalError(
      `the scratch volume ${volumeId} of ${instanceId} was deleted; the instance should be replaced`,
    );
  }
  logger.appendKeys({ instanceId });
  logger.info('scratch volume', { volumeId, sizeGiB, state: volume.state });

  let device: string;
  try {
    let current = await awaitVolume(
      deps,
      volumeId,
      (v) => v === undefined || v.state !== 'creating',
      'available',
    );
    device = attachmentOf(current, instanceId)?.device ?? '';
    if (!device) device = await attachVolume(deps, volumeId, instanceId, await pickDevice(deps, instance));
    current = await awaitVolume(deps, volumeId, attachedTo(instanceId), 'attached');
    device = attachmentOf(current, instanceId)?.device || device;
    await deleteOnTermination(deps, instanceId, device, volumeId);
  } catch (error) {
    logger.error('scratch volume not attached; deleting it', { volumeId, error: describeError(error) });
    await discardScratch(deps, instanceId, volumeId);
    throw classify(error, `attach scratch ${volumeId} to ${instanceId}`);
  }

  await runScript(deps, instanceId, 'prepareNode', {
    VolumeIds: volumeId,
    DeviceNames: device,
    MountPoint: settings.mountPoint,
    Filesystem: settings.filesystem,
    NodeId: '',
    NetworkInterfaceId: '',
    NodeIp: '',
    NodeMac: '',
    NodeSubnetCidr: '',
    EnvFile: settings.envFile,
    // A scratch group's service runs on scratch; a spare's waits for a set.
    ServiceUnit: settings.nodeSets ? '' : (settings.serviceUnit ?? ''),
  });
  logger.info('scratch volume prepared', { volumeId, device, mountPoint: settings.mountPoint });
  return { volumeId, device, sizeGiB };
}

async function discardScratch(deps: Deps, instanceId: string, volumeId: string): Promise<void> {
  try {
    await detachVolume(deps, volumeId, instanceId);
    await awaitVolume(deps, volumeId, availableOrGone, 'available');
    await deleteVolume(deps, volumeId);
  } catch (error) {
    if (isNotFound(error)) return;
    deps.logger.error('could not delete the scratch volume; the reaper will', {
      volumeId,
      error: { name: errorName(error) },
    });
  }
}
