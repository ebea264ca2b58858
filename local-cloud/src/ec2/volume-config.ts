import { fail } from '../errors';
import type { LocalVolumeType } from './types';

/**
 * Size/IOPS/throughput bounds per volume type, from the current CreateVolume and ModifyVolume API
 * reference (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html).
 * gp3 follows the figures of the API reference at the time of writing (1–65,536 GiB,
 * 3,000–80,000 IOPS at most 500 per GiB, 125–2,000 MiB/s at most 0.25 MiB/s per IOPS); the
 * older gp3 figures (16,384 GiB, 16,000 IOPS, 1,000 MiB/s) are inside these bounds.
 */
export const VOLUME_BOUNDS: Record<
  LocalVolumeType,
  { minSize: number; maxSize: number; iops?: { min: number; max: number; perGiB: number; required: boolean } }
> = {
  gp2: { minSize: 1, maxSize: 16384 },
  gp3: { minSize: 1, maxSize: 65536, iops: { min: 3000, max: 80000, perGiB: 500, required: false } },
  io1: { minSize: 4, maxSize: 16384, iops: { min: 100, max: 64000, perGiB: 50, required: true } },
  io2: { minSize: 4, maxSize: 65536, iops: { min: 100, max: 256000, perGiB: 1000, required: true } },
  st1: { minSize: 125, maxSize: 16384 },
  sc1: { minSize: 125, maxSize: 16384 },
  standard: { minSize: 1, maxSize: 1024 },
};
export const GP3_THROUGHPUT = { min: 125, max: 2000, perIops: 0.25 };

/** Checks size/IOPS/throughput against the type's documented bounds; returns the effective values. */
export function checkVolumeConfig(
  type: LocalVolumeType,
  size: number,
  iops: number | undefined,
  throughput: number | undefined,
): { iops?: number; throughput?: number } {
  const bounds = VOLUME_BOUNDS[type];
  if (!Number.isInteger(size) || size < bounds.minSize || size > bounds.maxSize) {
    throw fail(
      'InvalidParameterValue',
      `Volume of ${size}GiB is out of range for volume type ${type}; the size must be between ${bounds.minSize} and ${bounds.maxSize} GiB.`,
    );
  }
  const result: { iops?: number; throughput?: number } = {};
  if (bounds.iops) {
    if (iops === undefined && bounds.iops.required) {
      throw fail('MissingParameter', `The parameter iops must be specified for ${type} volumes.`);
    }
    const value = iops ?? bounds.iops.min;
    if (value < bounds.iops.min || value > bounds.iops.max) {
      throw fail(
        'InvalidParameterValue',
        `Value (${value}) for parameter iops is invalid. Expected a value between ${bounds.iops.min} and ${bounds.iops.max} for ${type} volumes.`,
      );
    }
    if (iops !== undefined && iops > size * bounds.iops.perGiB) {
      throw fail(
        'InvalidParameterValue',
        `Iops to volume size ratio of ${(iops / size).toFixed(1)} is too high; maximum is ${bounds.iops.perGiB}.`,
      );
    }
    result.iops = value;
  } else if (iops !== undefined) {
    throw fail('InvalidParameterCombination', `The parameter iops is not supported for ${type} volumes.`);
  } else if (type === 'gp2') {
    // gp2 baseline: 3 IOPS per GiB, between 100 and 16,000 (Amazon EBS User Guide, gp2 volumes).
    result.iops = Math.min(16000, Math.max(100, 3 * size));
  }
  if (type === 'gp3') {
    const value = throughput ?? GP3_THROUGHPUT.min;
    if (value < GP3_THROUGHPUT.min || value > GP3_THROUGHPUT.max) {
      throw fail(
        'InvalidParameterValue',
        `Value (${value}) for parameter throughput is invalid. Expected a value between ${GP3_THROUGHPUT.min} and ${GP3_THROUGHPUT.max}.`,
      );
    }
    if (throughput !== undefined && throughput > (result.iops ?? 3000) * GP3_THROUGHPUT.perIops) {
      throw fail(
        'InvalidParameterValue',
        `Throughput (MiBps) to iops ratio of ${(throughput / (result.iops ?? 3000)).toFixed(3)} is too high; maximum is ${GP3_THROUGHPUT.perIops} MiBps per iops.`,
      );
    }
    result.throughput = value;
  } else if (throughput !== undefined) {
    throw fail(
      'InvalidParameterCombination',
      `The parameter throughput is not supported for ${type} volumes.`,
    );
  }
  return result;
}
