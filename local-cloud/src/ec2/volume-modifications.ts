/** ModifyVolume and DescribeVolumesModifications. */
import type {
  DescribeVolumesModificationsRequest,
  ModifyVolumeRequest,
  VolumeModification,
} from '@aws-sdk/client-ec2';
import { fail } from '../errors';
import { compileFilters } from '../filters';
import { paginate } from '../paging';
import { modificationOut } from './outputs';
import type { ModRec } from './records';
import type { Ec2State } from './state';
import type { LocalVolumeType } from './types';
import { VOLUME_BOUNDS, checkVolumeConfig } from './volume-config';
import { lookupVolumes } from './volumes';

/**
 * ModifyVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html,
 * "Requirements for EBS volume modifications" and "Monitor the progress of volume modifications"
 * in the Amazon EBS User Guide): only after the previous modification completed
 * (IncorrectModificationState), at most 4 per rolling 24 h (or, under the older rule, one per
 * 6 h) (VolumeModificationRateExceeded); a size can only grow. States modifying → optimizing →
 * completed. DescribeVolumes shows the target size as soon as the request is accepted; the
 * size "takes effect once the volume modification reaches the optimizing state", which is when
 * `hooks.volumeModified` fires (the demo grows its loop device then).
 */
export function modifyVolume(
  s: Ec2State,
  input: Partial<ModifyVolumeRequest>,
): { VolumeModification: VolumeModification } {
  const volume = s.requireVolume(input.VolumeId);
  if (volume.state !== 'available' && volume.state !== 'in-use') {
    throw fail(
      'IncorrectState',
      `Volume ${volume.id} must be in the available or in-use state to be modified.`,
    );
  }
  const last = volume.modifications[volume.modifications.length - 1];
  if (last && last.state !== 'completed') {
    throw fail(
      'IncorrectModificationState',
      `Volume ${volume.id} cannot be modified in modification state ${last.state.toUpperCase()}`,
    );
  }
  const now = s.now();
  if (s.settings.modificationRule === 'four-per-24h') {
    const recent = volume.modifications.filter((m) => m.startTime > now - 24 * 3600_000).length;
    if (recent >= 4) {
      throw fail(
        'VolumeModificationRateExceeded',
        `You've reached the maximum modification rate per volume limit. Wait until fewer than 4 modifications of ${volume.id} started in the last 24 hours.`,
      );
    }
  } else if (last && last.startTime > now - 6 * 3600_000) {
    throw fail(
      'VolumeModificationRateExceeded',
      `You've reached the maximum modification rate per volume limit. Wait at least 6 hours between modifications per EBS volume.`,
    );
  }
  if (
    input.Size === undefined &&
    input.VolumeType === undefined &&
    input.Iops === undefined &&
    input.Throughput === undefined &&
    input.MultiAttachEnabled === undefined
  ) {
    throw fail('MissingParameter', 'At least one of Size, VolumeType, Iops, Throughput must be specified.');
  }
  const targetType = (input.VolumeType ?? volume.volumeType) as LocalVolumeType;
  if (!VOLUME_BOUNDS[targetType]) {
    throw fail(
      'InvalidParameterValue',
      `Value (${String(input.VolumeType)}) for parameter volumeType is invalid.`,
    );
  }
  const targetSize = input.Size ?? volume.size;
  if (targetSize < volume.size) {
    throw fail(
      'InvalidParameterValue',
      `New size (${targetSize}) cannot be smaller than existing size (${volume.size}).`,
    );
  }
  const keepIops =
    targetType === volume.volumeType && VOLUME_BOUNDS[targetType].iops ? volume.iops : undefined;
  const keepThroughput = targetType === 'gp3' && volume.volumeType === 'gp3' ? volume.throughput : undefined;
  const performance = checkVolumeConfig(
    targetType,
    targetSize,
    input.Iops ?? keepIops,
    input.Throughput ?? keepThroughput,
  );
  if (
    targetSize === volume.size &&
    targetType === volume.volumeType &&
    performance.iops === volume.iops &&
    performance.throughput === volume.throughput
  ) {
    throw fail(
      'InvalidParameterValue',
      `The requested modification of ${volume.id} does not change its configuration.`,
    );
  }
  const modification: ModRec = {
    state: 'modifying',
    startTime: now,
    originalSize: volume.size,
    targetSize,
    originalType: volume.volumeType,
    targetType,
    originalIops: volume.iops,
    targetIops: performance.iops,
    originalThroughput: volume.throughput,
    targetThroughput: performance.throughput,
  };
  volume.modifications.push(modification);
  volume.size = targetSize;
  volume.volumeType = targetType;
  volume.iops = performance.iops;
  volume.throughput = performance.throughput;
  s.agenda.at(now + s.settings.timing.modifyingMs, (due) => {
    modification.state = 'optimizing';
    if (targetSize > modification.originalSize && s.volumeMap.get(volume.id) === volume) {
      s.settings.hooks.volumeModified?.(s.volumeView(volume), targetSize);
    }
    s.agenda.at(due + s.settings.timing.optimizingMs, (end) => {
      modification.state = 'completed';
      modification.endTime = end;
    });
  });
  return { VolumeModification: modificationOut(volume.id, modification) };
}

/** "Describes the most recent volume modification request for the specified EBS volumes." */
export function describeVolumesModifications(
  s: Ec2State,
  input: Partial<DescribeVolumesModificationsRequest>,
): {
  VolumesModifications: VolumeModification[];
  NextToken?: string;
} {
  const ids = input.VolumeIds;
  const volumes = ids && ids.length > 0 ? lookupVolumes(s, ids) : [...s.volumeMap.values()];
  const rows: { volumeId: string; modification: ModRec }[] = [];
  for (const volume of volumes) {
    const last = volume.modifications[volume.modifications.length - 1];
    if (last) rows.push({ volumeId: volume.id, modification: last });
    else if (ids && ids.length > 0) {
      throw fail(
        'InvalidVolumeModification.NotFound',
        `Modification for volume '${volume.id}' does not exist.`,
      );
    }
  }
  const match = compileFilters<{ volumeId: string; modification: ModRec }>(input.Filters, {
    operation: 'DescribeVolumesModifications',
    fields: {
      'volume-id': (r) => r.volumeId,
      'modification-state': (r) => r.modification.state,
      'original-size': (r) => r.modification.originalSize,
      'target-size': (r) => r.modification.targetSize,
      'original-volume-type': (r) => r.modification.originalType,
      'target-volume-type': (r) => r.modification.targetType,
      'original-iops': (r) => r.modification.originalIops,
      'target-iops': (r) => r.modification.targetIops,
      'start-time': (r) => new Date(r.modification.startTime).toISOString(),
    },
  });
  const { page, nextToken } = paginate(rows.filter(match), input.MaxResults, input.NextToken, {
    min: 1,
    max: 500,
  });
  return {
    VolumesModifications: page.map((r) => modificationOut(r.volumeId, r.modification)),
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}
