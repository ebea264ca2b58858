/** The `growth` settings: defaults, then every rule of filesystem growth (lambdas/grow/policy.ts). */
import { DEVICE_NAMES } from './contract';
import {
  check,
  int,
  isKmsAlias,
  isKmsKeyReference,
  KMS_KEY_ARN_EXAMPLE,
  kmsAliasProblem,
  oneOf,
  VOLUME_PERFORMANCE,
} from './settings-rules';
import {
  DEFAULT_GROWTH,
  type Filesystem,
  type GroupSettingsInput,
  type GrowthSettings,
} from './settings-types';

/** Resolves the defaults of `growth` and validates it; the first bad value fails with its field. */
export function resolveGrowth(
  input: NonNullable<GroupSettingsInput['growth']>,
  filesystem: Filesystem,
  nodeSets: boolean,
): GrowthSettings {
  const g = { ...DEFAULT_GROWTH, ...input };
  const strategy = oneOf(g.strategy, 'growth.strategy', ['add-device', 'expand'] as const);
  check(
    strategy === 'expand' || filesystem === 'btrfs',
    'growth.strategy',
    `add-device needs btrfs; with ${filesystem} use strategy "expand" (enlarge the volume in place)`,
  );
  const sizing = oneOf(g.sizing, 'growth.sizing', ['tiers', 'factor'] as const);
  const minVolumeGiB = int(
    g.minVolumeGiB,
    'growth.minVolumeGiB',
    1,
    16384,
    'EBS gp3 volumes are 1–16384 GiB',
  );
  const maxVolumeGiB = int(
    g.maxVolumeGiB,
    'growth.maxVolumeGiB',
    1,
    16384,
    'EBS gp3 volumes are 1–16384 GiB',
  );
  check(
    maxVolumeGiB >= minVolumeGiB,
    'growth.maxVolumeGiB',
    `${maxVolumeGiB} is below growth.minVolumeGiB (${minVolumeGiB}); raise growth.maxVolumeGiB or lower growth.minVolumeGiB`,
  );
  check(
    Array.isArray(g.tiers) && g.tiers.length > 0,
    'growth.tiers',
    'must list at least one {upToDevices or upToTotalGiB, volumeGiB}',
  );
  const tierKey: 'upToDevices' | 'upToTotalGiB' =
    g.tiers[0]?.upToDevices !== undefined ? 'upToDevices' : 'upToTotalGiB';
  g.tiers.forEach((tier, i) => {
    check(
      (tier.upToDevices === undefined) !== (tier.upToTotalGiB === undefined) && tier[tierKey] !== undefined,
      `growth.tiers[${i}]`,
      `needs exactly one of upToDevices or upToTotalGiB, the same key in every tier (the first tier uses ${tierKey})`,
    );
    int(
      tier[tierKey],
      `growth.tiers[${i}].${tierKey}`,
      1,
      tierKey === 'upToDevices' ? 127 : 1048576,
      tierKey === 'upToDevices' ? 'a number of volumes' : 'a total size in GiB',
    );
    int(tier.volumeGiB, `growth.tiers[${i}].volumeGiB`, 1, 16384, 'EBS volumes are 1–16384 GiB');
    const prev = g.tiers[i - 1];
    check(
      !prev || (prev[tierKey] ?? 0) < (tier[tierKey] ?? 0),
      `growth.tiers[${i}].${tierKey}`,
      `tiers must be sorted by ${tierKey}, ascending`,
    );
  });
  check(
    typeof g.factor === 'number' && g.factor > 0 && g.factor <= 10,
    'growth.factor',
    `must be a number above 0 and at most 10 (got ${JSON.stringify(g.factor)})`,
  );
  const maxVolumes = int(
    g.maxVolumes,
    'growth.maxVolumes',
    1,
    DEVICE_NAMES.length,
    `EC2 documents ${DEVICE_NAMES.length} device names for EBS on Linux; the instance type bounds attachments further`,
  );
  const maxTotalGiB = int(g.maxTotalGiB, 'growth.maxTotalGiB', 1, 2097152, 'a total size in GiB');
  check(
    strategy !== 'add-device' || maxTotalGiB >= minVolumeGiB,
    'growth.maxTotalGiB',
    `${maxTotalGiB} GiB is smaller than growth.minVolumeGiB (${minVolumeGiB} GiB): not even one volume could be added; raise growth.maxTotalGiB or lower growth.minVolumeGiB`,
  );
  const initialThresholdPercent = int(
    g.initialThresholdPercent,
    'growth.initialThresholdPercent',
    1,
    99,
    'a disk_used_percent threshold',
  );
  const maxThresholdPercent = int(
    g.maxThresholdPercent,
    'growth.maxThresholdPercent',
    1,
    99,
    'a disk_used_percent threshold',
  );
  check(
    maxThresholdPercent >= initialThresholdPercent,
    'growth.maxThresholdPercent',
    `${maxThresholdPercent} is below growth.initialThresholdPercent (${initialThresholdPercent}); raise growth.maxThresholdPercent or lower growth.initialThresholdPercent`,
  );
  const cooldownSeconds = int(
    g.cooldownSeconds,
    'growth.cooldownSeconds',
    0,
    86400,
    'seconds between two grows of one instance',
  );
  const volumeType = oneOf(g.volumeType, 'growth.volumeType', [
    'gp3',
    'gp2',
    'io1',
    'io2',
    'st1',
    'sc1',
  ] as const);
  const performance = VOLUME_PERFORMANCE[volumeType];
  if (performance.iops?.required) {
    check(
      g.iops !== undefined,
      'growth.iops',
      `${volumeType} volumes need provisioned IOPS; set growth.iops (${performance.iops.min}–${performance.iops.max})`,
    );
  }
  if (g.iops !== undefined) {
    check(
      performance.iops !== undefined,
      'growth.iops',
      `${volumeType} volumes take no IOPS setting (got ${JSON.stringify(g.iops)}); remove it or use gp3, io1 or io2`,
    );
    const range = performance.iops as { min: number; max: number };
    int(g.iops, 'growth.iops', range.min, range.max, `the ${volumeType} IOPS range`);
  }
  if (g.throughput !== undefined) {
    check(
      performance.throughput !== undefined,
      'growth.throughput',
      `${volumeType} volumes take no throughput setting (got ${JSON.stringify(g.throughput)}); remove it or use gp3`,
    );
    const range = performance.throughput as { min: number; max: number };
    int(
      g.throughput,
      'growth.throughput',
      range.min,
      range.max,
      `gp3 throughput is ${range.min}–${range.max} MiB/s`,
    );
  }
  check(typeof g.encrypted === 'boolean', 'growth.encrypted', 'must be true or false');
  check(
    g.kmsKeyId === undefined || (typeof g.kmsKeyId === 'string' && g.kmsKeyId.length > 0 && g.encrypted),
    'growth.kmsKeyId',
    'needs encrypted: true and a key id or key ARN',
  );
  check(
    g.kmsKeyId === undefined || isKmsKeyReference(g.kmsKeyId),
    'growth.kmsKeyId',
    `${JSON.stringify(g.kmsKeyId)} is not a KMS key id or key ARN; write e.g. 1234abcd-12ab-34cd-56ef-1234567890ab or ${KMS_KEY_ARN_EXAMPLE}`,
  );
  // berth's IAM statements name this key: an alias there would match the alias, not the key.
  check(
    g.kmsKeyId === undefined || !isKmsAlias(g.kmsKeyId),
    'growth.kmsKeyId',
    kmsAliasProblem(g.kmsKeyId ?? ''),
  );
  const a = { ...DEFAULT_GROWTH.alarm, ...(input.alarm ?? {}) };
  check(
    a.periodSeconds === 10 ||
      a.periodSeconds === 30 ||
      (Number.isInteger(a.periodSeconds) && a.periodSeconds >= 60 && a.periodSeconds % 60 === 0),
    'growth.alarm.periodSeconds',
    `must be 10, 30 (high-resolution metrics) or a multiple of 60 (got ${JSON.stringify(a.periodSeconds)})`,
  );
  const evaluationPeriods = int(
    a.evaluationPeriods,
    'growth.alarm.evaluationPeriods',
    1,
    100,
    'how many periods the alarm looks at',
  );
  int(
    a.datapointsToAlarm,
    'growth.alarm.datapointsToAlarm',
    1,
    evaluationPeriods,
    'at most evaluationPeriods',
  );
  if (g.timeToFullSeconds !== undefined)
    int(
      g.timeToFullSeconds,
      'growth.timeToFullSeconds',
      60,
      86400,
      'seconds of projected time to full below which to grow',
    );
  const s = { ...DEFAULT_GROWTH.scratch, ...(input.scratch ?? {}) };
  check(typeof s.enabled === 'boolean', 'growth.scratch.enabled', 'must be true or false');
  check(typeof s.forSpares === 'boolean', 'growth.scratch.forSpares', 'must be true or false');
  int(s.sizeGiB, 'growth.scratch.sizeGiB', 1, 16384, 'EBS volumes are 1–16384 GiB');
  check(!s.forSpares || nodeSets, 'growth.scratch.forSpares', 'only groups with node sets have spares');
  return {
    ...g,
    strategy,
    sizing,
    minVolumeGiB,
    maxVolumeGiB,
    maxVolumes,
    maxTotalGiB,
    initialThresholdPercent,
    maxThresholdPercent,
    cooldownSeconds,
    volumeType,
    alarm: { ...a, evaluationPeriods },
    scratch: s,
  };
}
