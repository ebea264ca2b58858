/** Volumes: create, describe, attach, detach, delete. */
import type {
  AttachVolumeRequest,
  CreateVolumeRequest,
  DeleteVolumeRequest,
  DescribeVolumesRequest,
  DetachVolumeRequest,
  Volume,
  VolumeAttachment,
} from '@aws-sdk/client-ec2';
import { fail } from '../errors';
import { compileFilters } from '../filters';
import { paginate } from '../paging';
import { VOLUME_FILTERS } from './describe-filters';
import { attachmentOut, volumeOut } from './outputs';
import type { VolAttach, VolumeRec } from './records';
import { keyArnOf, keyDenied, keyOfNewVolume } from './keys';
import type { Ec2State } from './state';
import type { CallContext } from '../transport';
import { tagsFromSpecifications } from './tags';
import type { LocalInstanceType, LocalVolumeType } from './types';
import { required, stableStringify } from './util';
import { VOLUME_BOUNDS, checkVolumeConfig } from './volume-config';

/**
 * Device names EC2 accepts for EBS on Linux ("Device names on Linux instances",
 * https://docs.aws.amazon.com/ebs/latest/userguide/device_naming.html): /dev/sd[a-z], /dev/sd[a-z]N,
 * /dev/xvd[a-z], /dev/xvd[a-z][a-z]; `xvdf`-style bare names are accepted too.
 */
export const DEVICE_NAME = /^(\/dev\/(sd[a-z][a-z]?([1-9]|1[0-5])?|xvd[a-z][a-z]?)|xvd[a-z][a-z]?)$/;

export interface SeedVolumeOptions {
  availabilityZone: string;
  size?: number;
  volumeType?: LocalVolumeType;
  tags?: Record<string, string>;
  encrypted?: boolean;
  /** The volume's KMS key (key id, alias or ARN; implies encrypted). @default the account's EBS default key when encrypted */
  kmsKeyId?: string;
}

/** A volume that exists already, `available` (seeding, not an API call: no AZ check, no delay). */
export function seedVolume(s: Ec2State, options: SeedVolumeOptions): string {
  return s.mutation(() => {
    s.settle();
    const volume = s.makeVolume(
      {
        az: options.availabilityZone,
        size: options.size ?? 8,
        volumeType: options.volumeType ?? 'gp3',
        encrypted: options.encrypted ?? options.kmsKeyId !== undefined,
        ...((options.encrypted ?? options.kmsKeyId !== undefined)
          ? { kmsKeyId: keyOfNewVolume(s, options.kmsKeyId) }
          : {}),
        tags: new Map(Object.entries(options.tags ?? {})),
      },
      'available',
    );
    s.settings.hooks.volumeCreated?.(s.volumeView(volume));
    return volume.id;
  });
}

/**
 * CreateVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html).
 * Idempotency ("Ensuring idempotency", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html):
 * a retried request with the same ClientToken and the same parameters returns the same volume;
 * the same token with other parameters fails with IdempotentParameterMismatch; a token is at
 * most 64 ASCII characters.
 */
export function createVolume(s: Ec2State, input: Partial<CreateVolumeRequest>, call?: CallContext): Volume {
  const token = input.ClientToken;
  let fingerprint = '';
  if (token !== undefined) {
    if (token.length > 64 || !/^[\x20-\x7e]*$/.test(token)) {
      throw fail(
        'InvalidParameterValue',
        `Value (${token}) for parameter clientToken is invalid. The client token must be at most 64 ASCII characters.`,
      );
    }
    const { ClientToken: _t, DryRun: _d, ...rest } = input;
    fingerprint = stableStringify(rest);
    const previous = s.clientTokens.get(token);
    if (previous) {
      if (previous.fingerprint !== fingerprint) {
        throw fail(
          'IdempotentParameterMismatch',
          `Client token '${token}' was already used with different parameters.`,
        );
      }
      const volume = s.volumeMap.get(previous.volumeId);
      if (volume) return volumeOut(volume);
      // The volume was deleted since: AWS still answers with it, as it was.
      return { VolumeId: previous.volumeId, State: 'deleted' };
    }
  }
  const az = input.AvailabilityZone;
  if (!az) {
    if (input.AvailabilityZoneId)
      throw fail('UnsupportedOperation', 'The local cloud expects AvailabilityZone, not AvailabilityZoneId');
    throw fail('MissingParameter', 'The request must contain the parameter AvailabilityZone');
  }
  if (!s.azs.has(az)) {
    throw fail('InvalidParameterValue', `Invalid availability zone: [${az}]`);
  }
  const volumeType = (input.VolumeType ?? 'gp2') as LocalVolumeType; // "Default: gp2"
  if (!VOLUME_BOUNDS[volumeType]) {
    throw fail(
      'InvalidParameterValue',
      `Value (${String(input.VolumeType)}) for parameter volumeType is invalid.`,
    );
  }
  if (input.Size === undefined && input.SnapshotId === undefined) {
    throw fail('MissingParameter', 'The request must contain the parameter size or snapshotId');
  }
  if (input.SnapshotId !== undefined && !/^snap-([0-9a-f]{8}|[0-9a-f]{17})$/.test(input.SnapshotId)) {
    throw fail('InvalidSnapshotID.Malformed', `Invalid id: "${input.SnapshotId}" (expecting "snap-...")`);
  }
  if (input.SnapshotId !== undefined && input.Size === undefined) {
    throw fail('InvalidSnapshot.NotFound', `The snapshot '${input.SnapshotId}' does not exist.`);
  }
  const size = input.Size ?? 0;
  const performance = checkVolumeConfig(volumeType, size, input.Iops, input.Throughput);
  if (input.KmsKeyId !== undefined && input.Encrypted !== true) {
    throw fail(
      'InvalidParameterDependency',
      'The parameter KmsKeyId requires the parameter Encrypted to be set.',
    );
  }
  const tags = tagsFromSpecifications(input.TagSpecifications, 'volume');
  const kmsKeyId = input.Encrypted ? keyOfNewVolume(s, input.KmsKeyId) : undefined;
  // The key is checked asynchronously: a caller EBS may not use it for gets `creating`, then the
  // volume is gone (keys.ts).
  const keyRefused =
    kmsKeyId !== undefined && keyDenied(s, call, 'CreateVolume', kmsKeyId, 'create') !== undefined;
  const volume = s.makeVolume(
    {
      az,
      size,
      volumeType,
      encrypted: input.Encrypted ?? false,
      kmsKeyId,
      snapshotId: input.SnapshotId,
      tags,
      ...performance,
    },
    'creating',
  );
  s.agenda.at(s.now() + s.settings.timing.createVolumeMs, () => {
    if (volume.state !== 'creating') return;
    if (!keyRefused) {
      volume.state = 'available';
      return;
    }
    volume.state = 'deleted';
    s.volumeMap.delete(volume.id);
  });
  if (token !== undefined) s.clientTokens.set(token, { fingerprint, volumeId: volume.id });
  if (s.settings.timing.consistencyMs > 0) volume.visibleAt = s.now() + s.settings.timing.consistencyMs;
  s.settings.hooks.volumeCreated?.(s.volumeView(volume));
  return volumeOut(volume);
}

/**
 * DescribeVolumes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html):
 * MaxResults "can be between 5 and 500; if the value is larger than 500, only 500 items are
 * returned", and cannot be combined with VolumeIds.
 */
export function describeVolumes(
  s: Ec2State,
  input: Partial<DescribeVolumesRequest>,
): { Volumes: Volume[]; NextToken?: string } {
  const ids = input.VolumeIds;
  if (ids && ids.length > 0 && input.MaxResults !== undefined) {
    throw fail(
      'InvalidParameterCombination',
      'The parameter volumeSet cannot be used with the parameter maxResults',
    );
  }
  const candidates = ids && ids.length > 0 ? lookupVolumes(s, ids) : [...s.volumeMap.values()];
  const match = compileFilters(input.Filters, VOLUME_FILTERS);
  const maxResults = input.MaxResults === undefined ? undefined : Math.min(500, input.MaxResults);
  const now = s.now();
  const found = candidates.filter((v) => (v.visibleAt === undefined || v.visibleAt <= now) && match(v));
  const { page, nextToken } = paginate(found, maxResults, input.NextToken, {
    min: 5,
    max: 500,
  });
  return { Volumes: page.map((v) => volumeOut(v)), ...(nextToken ? { NextToken: nextToken } : {}) };
}

export function lookupVolumes(s: Ec2State, ids: readonly string[]): VolumeRec[] {
  const missing: string[] = [];
  const found: VolumeRec[] = [];
  for (const id of ids) {
    s.checkVolumeId(id);
    const volume = s.volumeMap.get(id);
    if (volume && !s.hidden(volume)) found.push(volume);
    else missing.push(id);
  }
  if (missing.length === 1)
    throw fail('InvalidVolume.NotFound', `The volume '${missing[0]}' does not exist.`);
  if (missing.length > 1)
    throw fail('InvalidVolume.NotFound', `The volumes '${missing.join(', ')}' do not exist.`);
  return found;
}

/**
 * AttachVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html):
 * the volume must be `available` (else VolumeInUse when attached, IncorrectState otherwise) and
 * in the instance's AZ (InvalidVolume.ZoneMismatch); the instance must be `running` (or stopped,
 * not modelled); the device name must be valid and free; the instance type's attachment limit
 * applies (AttachmentLimitExceeded).
 */
export function attachVolume(
  s: Ec2State,
  input: Partial<AttachVolumeRequest>,
  call?: CallContext,
): VolumeAttachment {
  const device = required(input.Device, 'Device');
  const instance = s.requireInstance(input.InstanceId);
  const volume = s.requireVolume(input.VolumeId);
  if (volume.attachment) {
    throw fail('VolumeInUse', `${volume.id} is already attached to an instance`);
  }
  if (volume.state !== 'available') {
    throw fail('IncorrectState', `${volume.id} is not 'available'.`);
  }
  if (instance.state !== 'running') {
    throw fail('IncorrectState', `Instance '${instance.id}' is not 'running'.`);
  }
  if (volume.az !== instance.subnet.az) {
    throw fail(
      'InvalidVolume.ZoneMismatch',
      `The volume '${volume.id}' is not in the same availability zone as instance '${instance.id}'`,
    );
  }
  if (!DEVICE_NAME.test(device)) {
    throw fail(
      'InvalidParameterValue',
      `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`,
    );
  }
  // A name in use (or just released) is InvalidParameterValue ("Error codes for the Amazon EC2
  // API", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), checked
  // after the volume's own state, so a volume already attached answers VolumeInUse first.
  // Real message: "Invalid value '/dev/sdh' for unixDevice. Attachment point /dev/sdh is already in use".
  if (instance.devices.has(device) || (instance.heldDevices.get(device) ?? 0) > s.now()) {
    throw fail(
      'InvalidParameterValue',
      `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`,
    );
  }
  if (
    volume.kmsKeyId !== undefined &&
    keyDenied(s, call, 'AttachVolume', keyArnOf(s, volume.kmsKeyId), 'attach')
  ) {
    // keys.ts: EBS could not get a grant on, or decrypt with, the volume's customer managed key.
    throw fail(
      'CustomerKeyHasBeenRevoked',
      `Volume ${volume.id} cannot be attached. The encrypted volume was unable to access the KMS master key.`,
    );
  }
  const type = s.settings.instanceTypes[instance.instanceType] as LocalInstanceType;
  const used =
    type.attachmentLimitType === 'shared'
      ? instance.devices.size + instance.enis.size
      : instance.devices.size;
  if (used + 1 > type.maximumEbsAttachments) {
    throw fail(
      'AttachmentLimitExceeded',
      `Instance '${instance.id}' has reached its limit of ${type.maximumEbsAttachments} attachments for type ${instance.instanceType}.`,
    );
  }
  const now = s.now();
  const attachment: VolAttach = {
    instance,
    device,
    state: 'attaching',
    attachTime: now,
    deleteOnTermination: false,
  };
  volume.attachment = attachment;
  volume.state = 'in-use';
  instance.devices.set(device, volume);
  const stuck =
    s.settings.stickNextAttachments > 0 ||
    (s.settings.stuckAttachRate > 0 && s.cloud.random.chance(s.settings.stuckAttachRate));
  if (s.settings.stickNextAttachments > 0) s.settings.stickNextAttachments--;
  if (stuck) {
    attachment.stuck = true;
    s.settings.stuckAttachments.push(volume.id);
  } else {
    s.agenda.at(now + s.settings.timing.attachMs, () => {
      if (volume.attachment === attachment && attachment.state === 'attaching') attachment.state = 'attached';
    });
  }
  return attachmentOut(volume, attachment);
}

/**
 * DetachVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html):
 * a volume that is not attached answers IncorrectState; an InstanceId or Device that does not
 * match the attachment answers InvalidAttachment.NotFound ("an attempt to detach a volume from
 * an instance to which it is not attached", errors-overview).
 */
export function detachVolume(s: Ec2State, input: Partial<DetachVolumeRequest>): VolumeAttachment {
  const volume = s.requireVolume(input.VolumeId);
  if (input.InstanceId !== undefined) s.requireInstance(input.InstanceId);
  const attachment = volume.attachment;
  if (!attachment) {
    throw fail('IncorrectState', `Volume '${volume.id}' is in the '${volume.state}' state.`);
  }
  if (
    (input.InstanceId !== undefined && input.InstanceId !== attachment.instance.id) ||
    (input.Device !== undefined && input.Device !== attachment.device)
  ) {
    throw fail(
      'InvalidAttachment.NotFound',
      `The volume '${volume.id}' is not attached to instance '${input.InstanceId ?? attachment.instance.id}' at ${input.Device ?? attachment.device}.`,
    );
  }
  if (attachment.device === '/dev/xvda' && attachment.instance.state !== 'terminated') {
    // "You can't detach the root volume of an instance that is running; stop it first"
    // (Amazon EBS User Guide, "Detach an Amazon EBS volume"); stopping is not modelled.
    throw fail(
      'OperationNotPermitted',
      `The volume '${volume.id}' is the root device of instance '${attachment.instance.id}' and cannot be detached while it is running.`,
    );
  }
  if (attachment.stuck && input.Force !== true) {
    // Stuck in `attaching`: only a forced detach releases it (see stuckAttachRate).
    return attachmentOut(volume, attachment);
  }
  if (attachment.state !== 'detaching') {
    attachment.state = 'detaching';
    // Force detaches at once in effect, but still through `detaching`; the delay is the same.
    s.agenda.at(s.now() + s.settings.timing.detachMs, (due) => finishDetach(s, volume, attachment, due));
  }
  return attachmentOut(volume, attachment);
}

export function finishDetach(s: Ec2State, volume: VolumeRec, attachment: VolAttach, at: number): void {
  if (volume.attachment !== attachment || attachment.state !== 'detaching') return;
  attachment.state = 'detached';
  volume.attachment = undefined;
  const instance = attachment.instance;
  if (instance.devices.get(attachment.device) === volume) instance.devices.delete(attachment.device);
  if (s.settings.timing.deviceReleaseMs > 0) {
    instance.heldDevices.set(attachment.device, at + s.settings.timing.deviceReleaseMs);
  }
  if (volume.state === 'in-use') volume.state = 'available';
}

/** DeleteVolume: only an `available` volume ("The volume must be in the available state (not attached to an instance)"). */
export function deleteVolume(s: Ec2State, input: Partial<DeleteVolumeRequest>): Record<string, never> {
  const volume = s.requireVolume(input.VolumeId);
  if (volume.attachment || volume.state === 'in-use') {
    throw fail(
      'VolumeInUse',
      `Volume ${volume.id} is currently attached to ${volume.attachment?.instance.id ?? 'an instance'}`,
    );
  }
  if (volume.state === 'deleting') return {};
  if (volume.state !== 'available') {
    throw fail('IncorrectState', `The volume '${volume.id}' is in the '${volume.state}' state.`);
  }
  volume.state = 'deleting';
  s.settings.hooks.volumeDeleted?.(s.volumeView(volume), 'DeleteVolume');
  s.agenda.at(s.now() + s.settings.timing.deleteVolumeMs, () => {
    volume.state = 'deleted';
    s.volumeMap.delete(volume.id);
  });
  return {};
}
