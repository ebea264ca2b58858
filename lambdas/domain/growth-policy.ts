/**
 * The growth policy: pure functions, no AWS. Given what a node's filesystem spans and the limits
 * that bound it, decide whether to grow, by how much, and the alarm threshold that follows; or
 * refuse with the reason and the figures.
 *
 * Seed-compatible (awslabs/amazon-ebs-autoscale `bin/ebs-autoscale`): `calc_new_size` picks the
 * new volume's size from the device count (150/300/1000/1500 GiB for 1–3/4–6/7–10/11+ devices,
 * at most max_ebs_volume_size), `calc_threshold` raises the utilisation threshold from
 * initial_utilization_threshold (1–3 devices) to 80 (4–6) and 90 (7+), `add_space` stops at
 * max_ebs_volume_count devices and at max_logical_volume_size.
 */
import type { GrowthSettings } from '../shared/config';

/** The largest gp2/gp3/io1/io2 volume (GiB). */
export const EBS_MAX_VOLUME_GIB = 16384;
/** Rolling window and count of the ModifyVolume rate limit ("up to four times within 24 hours"). */
export const MODIFICATION_WINDOW_MS = 24 * 3600 * 1000;
export const MODIFICATIONS_PER_WINDOW = 4;

export type RefusalReason =
  | 'max-volumes'
  | 'max-total'
  | 'attachment-limit'
  | 'cooldown'
  | 'max-volume-size'
  | 'requested-size'
  | 'modification-in-progress'
  | 'modification-rate'
  | 'expand-needs-add-device';

/** What the policy needs to know about one node. */
export interface GrowthState {
  /** Volumes of the node's filesystem (its set's, or its scratch volumes), with their sizes. */
  members: { volumeId: string; sizeGiB: number; ordinal?: number }[];
  /** EBS attachment slots left on the instance (instance type limit minus what it holds). */
  freeAttachmentSlots: number;
  /** When berth last grew this instance (ms since epoch), if it did. */
  lastGrowAt?: number;
  now: number;
  /** An operator's request: not held back by the cooldown. */
  manual?: boolean;
  /** A manual request's size; bypasses the tiers (not the limits). */
  requestedSizeGiB?: number;
  /** In-place strategy: the target volume's ModifyVolume history. */
  modifications?: {
    /** The latest modification has not completed (modifying / optimizing). */
    inProgress: boolean;
    /** Start times (ms) of berth's modifications of the target volume. */
    startTimes: number[];
  };
}

export interface Figures {
  devices: number;
  totalGiB: number;
  maxVolumes: number;
  maxTotalGiB: number;
  freeAttachmentSlots: number;
  thresholdPercent: number;
  cooldownRemainingSeconds?: number;
  modificationsIn24h?: number;
}

export type Decision =
  | {
      action: 'add-device';
      /** Size of the new volume. */
      sizeGiB: number;
      /** Alarm threshold once the new volume has joined. */
      nextThresholdPercent: number;
      figures: Figures;
    }
  | {
      action: 'expand';
      volumeId: string;
      /** The volume's new size. */
      newSizeGiB: number;
      /** How much it adds. */
      sizeGiB: number;
      nextThresholdPercent: number;
      figures: Figures;
    }
  | {
      action: 'refuse';
      reason: RefusalReason;
      message: string;
      figures: Figures;
      /** When trying again can help (cooldown), in seconds. */
      retryAfterSeconds?: number;
    };

/** The seed's `calc_threshold`: the alarm threshold for a filesystem of `devices` volumes. */
export function thresholdFor(growth: GrowthSettings, devices: number): number {
  const { initialThresholdPercent: initial, maxThresholdPercent: max } = growth;
  if (devices <= 3) return initial;
  if (devices <= 6) return Math.min(max, Math.max(initial, 80));
  return max;
}

function clamp(value: number, min: number, max: number): number {
  return Math.min(max, Math.max(min, value));
}

/**
 * Size of the next volume (or of the increment, in place): the tier that matches the device count
 * (or the total, for `upToTotalGiB` tiers; past the last tier, its size), or `factor` × current
 * total; clamped to [minVolumeGiB, maxVolumeGiB].
 */
export function nextVolumeGiB(growth: GrowthSettings, devices: number, totalGiB: number): number {
  let size: number;
  if (growth.sizing === 'factor') {
    size = Math.ceil(growth.factor * totalGiB);
  } else {
    const tier =
      growth.tiers.find((t) =>
        t.upToDevices !== undefined ? devices <= t.upToDevices : totalGiB <= (t.upToTotalGiB ?? 0),
      ) ?? growth.tiers[growth.tiers.length - 1];
    size = tier?.volumeGiB ?? growth.minVolumeGiB;
  }
  return clamp(size, growth.minVolumeGiB, growth.maxVolumeGiB);
}

function figuresOf(growth: GrowthSettings, state: GrowthState): Figures {
  const devices = state.members.length;
  return {
    devices,
    totalGiB: state.members.reduce((sum, m) => sum + m.sizeGiB, 0),
    maxVolumes: growth.maxVolumes,
    maxTotalGiB: growth.maxTotalGiB,
    freeAttachmentSlots: state.freeAttachmentSlots,
    thresholdPercent: thresholdFor(growth, devices),
  };
}

function refuse(
  reason: RefusalReason,
  message: string,
  figures: Figures,
  retryAfterSeconds?: number,
): Decision {
  return {
    action: 'refuse',
    reason,
    message,
    figures,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  };
}

/** Checks shared by both strategies: cooldown (not for manual requests) and the total. */
function common(growth: GrowthSettings, state: GrowthState, figures: Figures): Decision | undefined {
  if (!state.manual && state.lastGrowAt !== undefined) {
    const remaining = Math.ceil((state.lastGrowAt + growth.cooldownSeconds * 1000 - state.now) / 1000);
    if (remaining > 0) {
      figures.cooldownRemainingSeconds = remaining;
      return refuse(
        'cooldown',
        `grown ${Math.floor((state.now - state.lastGrowAt) / 1000)} s ago; cooldown is ${growth.cooldownSeconds} s`,
        figures,
        remaining,
      );
    }
  }
  if (figures.totalGiB >= growth.maxTotalGiB) {
    return refuse(
      'max-total',
      `the filesystem spans ${figures.totalGiB} GiB, the limit is ${growth.maxTotalGiB} GiB`,
      figures,
    );
  }
  return undefined;
}

/** The size to add: a manual request's, or the policy's; capped by what the total allows. */
function sizeToAdd(
  growth: GrowthSettings,
  state: GrowthState,
  figures: Figures,
  maxSingle: number,
): { sizeGiB: number } | Decision {
  const headroom = growth.maxTotalGiB - figures.totalGiB;
  if (state.requestedSizeGiB !== undefined) {
    const requested = state.requestedSizeGiB;
    if (!Number.isInteger(requested) || requested < 1 || requested > maxSingle) {
      return refuse(
        'requested-size',
        `requested ${requested} GiB; a volume (or increment) here is 1–${maxSingle} GiB`,
        figures,
      );
    }
    if (requested > headroom) {
      return refuse(
        'max-total',
        `requested ${requested} GiB on top of ${figures.totalGiB} GiB exceeds the limit of ${growth.maxTotalGiB} GiB`,
        figures,
      );
    }
    return { sizeGiB: requested };
  }
  // The total limit wins over minVolumeGiB: never grow past what the operator allowed.
  const size = Math.min(nextVolumeGiB(growth, figures.devices, figures.totalGiB), headroom, maxSingle);
  return { sizeGiB: size };
}

/** Decides one add-device grow. */
export function decideAddDevice(growth: GrowthSettings, state: GrowthState): Decision {
  const figures = figuresOf(growth, state);
  const blocked = common(growth, state, figures);
  if (blocked) return blocked;
  if (figures.devices >= growth.maxVolumes) {
    return refuse(
      'max-volumes',
      `the filesystem has ${figures.devices} volumes, the limit is ${growth.maxVolumes}`,
      figures,
    );
  }
  if (state.freeAttachmentSlots < 1) {
    return refuse(
      'attachment-limit',
      'the instance type has no EBS attachment slot left; use a larger type or lower growth.maxVolumes',
      figures,
    );
  }
  const size = sizeToAdd(growth, state, figures, growth.maxVolumeGiB);
  if ('action' in size) return size;
  return {
    action: 'add-device',
    sizeGiB: size.sizeGiB,
    nextThresholdPercent: thresholdFor(growth, figures.devices + 1),
    figures,
  };
}

/**
 * The volume the in-place strategy enlarges: the set's primary (ordinal 0) when there is one,
 * else the largest (ties: the lowest id, so that repeated decisions agree).
 */
export function expandTarget(members: GrowthState['members']): GrowthState['members'][number] | undefined {
  const primary = members.find((m) => m.ordinal === 0);
  if (primary) return primary;
  return [...members].sort((a, b) => b.sizeGiB - a.sizeGiB || a.volumeId.localeCompare(b.volumeId))[0];
}

/**
 * Decides one in-place grow. A blocked modification (previous one unfinished, 4 in 24 h, volume at
 * its largest) refuses with that reason; the caller falls back to add-device for btrfs.
 */
export function decideExpand(growth: GrowthSettings, state: GrowthState): Decision {
  const figures = figuresOf(growth, state);
  const blocked = common(growth, state, figures);
  if (blocked) return blocked;
  const target = expandTarget(state.members);
  if (!target) {
    return refuse('expand-needs-add-device', 'the filesystem has no volume to enlarge', figures);
  }
  const history = state.modifications ?? { inProgress: false, startTimes: [] };
  const recent = history.startTimes.filter((t) => t > state.now - MODIFICATION_WINDOW_MS).length;
  figures.modificationsIn24h = recent;
  if (history.inProgress) {
    return refuse(
      'modification-in-progress',
      `the previous modification of ${target.volumeId} has not completed`,
      figures,
    );
  }
  if (recent >= MODIFICATIONS_PER_WINDOW) {
    const oldest = Math.min(...history.startTimes.filter((t) => t > state.now - MODIFICATION_WINDOW_MS));
    return refuse(
      'modification-rate',
      `${target.volumeId} was modified ${recent} times in 24 h (EBS allows ${MODIFICATIONS_PER_WINDOW})`,
      figures,
      Math.ceil((oldest + MODIFICATION_WINDOW_MS - state.now) / 1000),
    );
  }
  const ceiling = Math.min(growth.maxVolumeGiB, EBS_MAX_VOLUME_GIB);
  const room = ceiling - target.sizeGiB;
  if (room < 1) {
    return refuse(
      'max-volume-size',
      `${target.volumeId} is ${target.sizeGiB} GiB, the largest a volume may be is ${ceiling} GiB`,
      figures,
    );
  }
  const size = sizeToAdd(growth, state, figures, room);
  if ('action' in size) return size;
  return {
    action: 'expand',
    volumeId: target.volumeId,
    sizeGiB: size.sizeGiB,
    newSizeGiB: target.sizeGiB + size.sizeGiB,
    nextThresholdPercent: thresholdFor(growth, figures.devices),
    figures,
  };
}

/** Refusals of the in-place strategy that adding a device (btrfs) gets around. */
export function expandBlocked(decision: Decision): boolean {
  return (
    decision.action === 'refuse' &&
    (decision.reason === 'modification-rate' ||
      decision.reason === 'modification-in-progress' ||
      decision.reason === 'max-volume-size' ||
      decision.reason === 'expand-needs-add-device')
  );
}
