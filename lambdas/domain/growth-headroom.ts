/**
 * Growth headroom: the race between a writer and berth's growth, as a pure model (no AWS, no
 * clock). A node fills at a steady rate; the filesystem crosses its alarm threshold; the capacity
 * lands `secondsToCapacity` later (detection + the grow itself). The node survives when the free
 * space at the threshold outlasts that. Used by `npm run bench -- growth-race` (with the host step
 * and the grow handler's time measured) and by the construct's headroom check at synth.
 *
 * Detection is modelled on a grid, as the CloudWatch agent and CloudWatch align to the clock: the
 * agent samples `disk_used_percent` every collection interval and sends its buffer every flush
 * interval; a datapoint (statistic Maximum) is the largest sample of its period and counts once
 * its period has ended (as the local cloud's CloudWatch evaluates); CloudWatch sees it after an
 * ingestion delay and evaluates at its next evaluation tick; the alarm fires at the first tick
 * where `datapointsToAlarm` of the last `evaluationPeriods` datapoints breach. The worst phase of
 * the crossing against the sample grid is taken.
 */
import type { AlarmSettings, GrowthSettings } from '../shared/config';
import { nextVolumeGiB, thresholdFor } from './growth-policy';

// --- Latencies (seconds), each with its source; where AWS publishes no figure, an assumption. ---

/**
 * The CloudWatch agent keeps metrics in memory up to `force_flush_interval` (metrics section),
 * default 60 s ("Manually create or edit the CloudWatch agent configuration file", metrics
 * section). berth sets it to the collection interval (infra/agent-config.ts, agentSchedule).
 */
export const AGENT_DEFAULT_FLUSH_SECONDS = 60;
/**
 * Alarms with a period of 60 s or more are evaluated every minute; "If the alarm period is 10
 * seconds or 30 seconds, the alarm is evaluated every 10 seconds" (CloudWatch user guide, "Using
 * Amazon CloudWatch alarms", AlarmThatSendsEmail.html).
 */
export const STANDARD_EVALUATION_SECONDS = 60;
export const HIGH_RESOLUTION_EVALUATION_SECONDS = 10;
/**
 * Assumption: from PutMetricData to a datapoint an alarm can evaluate. AWS publishes no figure;
 * AWS support answers "a few seconds" (re:Post, "can we trigger cloudwatch alarm immediately …");
 * 5 s.
 */
export const METRIC_INGESTION_SECONDS = 5;
/**
 * Assumption: alarm state change to the Lambda's invocation through EventBridge. AWS publishes no
 * delivery latency for service events; 2 s.
 */
export const EVENTBRIDGE_DELIVERY_SECONDS = 2;
/** Assumption: Lambda cold start (runtime + init; `npm run bench -- bundles` measures the init part). */
export const LAMBDA_START_SECONDS = 1;
/**
 * Assumption: CreateVolume to `available`. The EC2 docs give no figure (a volume is usable "when
 * it reaches the available state"); the AWS CLI's `volume-available` waiter polls every 15 s
 * (botocore ec2 waiters-2.json). 8 s, pessimistic against the seconds usually seen for gp3.
 */
export const CREATE_VOLUME_SECONDS = 8;
/** Assumption: AttachVolume to `attached` and the device on the host; no AWS figure; 5 s. */
export const ATTACH_VOLUME_SECONDS = 5;
/** Assumption: SendCommand to the agent starting the script (the agent long-polls); 2 s. */
export const SSM_DELIVERY_SECONDS = 2;
/** Assumption: one AWS API call from Lambda in the same Region; 0.1 s. */
export const API_CALL_SECONDS = 0.1;
/** API calls of one add-device grow (`npm run bench -- grow`: 20). */
export const GROW_API_CALLS = 20;
/**
 * The grow handler's waits beyond the latencies themselves: it polls `available` and `attached`
 * with a doubling backoff from 0.5 s (lambdas/aws/attachments.ts waitForVolume), which sees an
 * 8 s creation at 12.5 s and a 5 s attachment at 7.5 s. `npm run bench -- growth-race` measures
 * the handler (handlerToCommandSeconds: 22.3 s = 8 + 5 + 22 calls × 0.1 + 7.1 s of waits).
 */
export const GROW_POLL_OVERHEAD_SECONDS = 7;
/** The host step (grow-filesystem add-device) at synth, where it is not measured: `npm run bench -- grow-host` measured 0.2–0.8 s; 2 s. */
export const HOST_STEP_SECONDS = 2;
/** AWS CLI waiter `volume-available` delay (botocore ec2 waiters-2.json VolumeAvailable: delay 15). */
export const CLI_WAITER_SECONDS = 15;
/** Assumption: one AWS CLI invocation on a host (Python start + one call); 0.7 s. */
export const CLI_CALL_SECONDS = 0.7;
/** gp3 baseline throughput, MiB/s (EBS user guide, "General Purpose SSD volumes": 125 MiB/s). */
export const GP3_BASELINE_MIBPS = 125;
/** gp2 and other types: the largest a volume gives (gp2 250 MiB/s; io1/io2 up to 1000; st1 500). */
const THROUGHPUT_BY_TYPE: Record<GrowthSettings['volumeType'], number> = {
  gp3: GP3_BASELINE_MIBPS,
  gp2: 250,
  io1: 1000,
  io2: 1000,
  st1: 500,
  sc1: 250,
};

/**
 * The predictive alarm's default: it fires when the projected time to full,
 * (100 - used %) / RATE(used %), is below 10 minutes. Above what detection and a grow take at a
 * 60 s period (about 200 s), so that a steady writer it sees never fills the disk.
 */
export const DEFAULT_PREDICTIVE_SECONDS = 600;

/** How the agent samples and sends (berth's agent config: both at the alarm's period). */
export function agentSchedule(periodSeconds: number): { collectionSeconds: number; flushSeconds: number } {
  return { collectionSeconds: periodSeconds, flushSeconds: periodSeconds };
}

/** An alarm on disk_used_percent as berth creates it, and the agent that feeds it. */
export interface AlarmDetector {
  kind: 'alarm';
  alarm: AlarmSettings;
  collectionSeconds: number;
  flushSeconds: number;
  /** Optional second alarm on the projected time to full (seconds), same period and M of N. */
  predictiveSeconds?: number;
}

/** The seed's daemon: `df` every `intervalSeconds`. */
export interface PollDetector {
  kind: 'poll';
  intervalSeconds: number;
}

export type Detector = AlarmDetector | PollDetector;

/** berth's detector for a growth configuration. */
export function berthDetector(alarm: AlarmSettings, predictiveSeconds?: number): AlarmDetector {
  return {
    kind: 'alarm',
    alarm,
    ...agentSchedule(alarm.periodSeconds),
    ...(predictiveSeconds !== undefined ? { predictiveSeconds } : {}),
  };
}

/** berth's grow, alarm to capacity, without detection: EventBridge, Lambda, API calls and waits, create, attach, SSM, host. */
export function berthGrowSeconds(hostStepSeconds = HOST_STEP_SECONDS): number {
  return (
    EVENTBRIDGE_DELIVERY_SECONDS +
    LAMBDA_START_SECONDS +
    GROW_API_CALLS * API_CALL_SECONDS +
    GROW_POLL_OVERHEAD_SECONDS +
    CREATE_VOLUME_SECONDS +
    ATTACH_VOLUME_SECONDS +
    SSM_DELIVERY_SECONDS +
    hostStepSeconds
  );
}

/**
 * The seed's grow (awslabs/amazon-ebs-autoscale bin/create-ebs-volume, bin/ebs-autoscale): AWS CLI
 * calls (describe-tags, describe-volumes, create-volume, wait, attach-volume,
 * modify-instance-attribute), `aws ec2 wait volume-available` (first poll at once, then every
 * 15 s), `sleep 1`, attach, a 1 s poll for the device, then `btrfs device add` (capacity lands
 * there; `balance -m` follows).
 */
export function seedGrowSeconds(deviceAddSeconds: number): number {
  const cliCalls = 6;
  const waited = Math.ceil(CREATE_VOLUME_SECONDS / CLI_WAITER_SECONDS) * CLI_WAITER_SECONDS;
  const deviceSeen = Math.ceil(ATTACH_VOLUME_SECONDS);
  return cliCalls * CLI_CALL_SECONDS + waited + 1 + deviceSeen + deviceAddSeconds;
}

/** Fill level (percent) over time; t = 0 is when it crosses the threshold. */
type Fill = (t: number) => number;

/**
 * Seconds from the threshold crossing (t = 0) to the alarm firing, for one phase of the sample
 * grid (`phase`: the first sample after the crossing is `phase` seconds after it, 0 < phase ≤ I).
 * `breaches(values, k)`: whether datapoint k (values indexed by period) breaches.
 */
function alarmFiresAfter(
  detector: AlarmDetector,
  fill: Fill,
  phase: number,
  breaches: (values: Map<number, number>, k: number) => boolean,
  fromSeconds: number,
): number {
  const { periodSeconds: P, datapointsToAlarm: M, evaluationPeriods: N } = detector.alarm;
  const I = detector.collectionSeconds;
  const F = detector.flushSeconds;
  const E = P < 60 ? HIGH_RESOLUTION_EVALUATION_SECONDS : STANDARD_EVALUATION_SECONDS;
  // Grid origin: samples at origin + j·I, periods at origin + k·P (I divides P).
  const origin = phase - I;
  const values = new Map<number, number>();
  const sampleTimes = (k: number): number[] => {
    const out: number[] = [];
    for (let s = origin + k * P; s < origin + (k + 1) * P - 1e-9; s += I) out.push(s);
    return out;
  };
  const kStart = Math.floor((fromSeconds - origin) / P) - N - 1;
  for (let k = kStart; k < kStart + 100_000; k++) {
    const samples = sampleTimes(k);
    values.set(k, Math.max(...samples.map(fill)));
    const lastSample = samples[samples.length - 1] ?? origin + k * P;
    const available = Math.max(origin + (k + 1) * P, lastSample + F) + METRIC_INGESTION_SECONDS;
    const tick = origin + Math.ceil((available - origin - 1e-9) / E) * E;
    let breaching = 0;
    for (let j = k - N + 1; j <= k; j++) if (values.has(j) && breaches(values, j)) breaching++;
    if (breaching >= M && tick >= fromSeconds) return tick;
  }
  return Infinity;
}

/** Phases of the crossing against the sample grid that the worst case is taken over. */
function phases(I: number): number[] {
  return Array.from({ length: 8 }, (_, i) => (I * (i + 1)) / 8);
}

/** Worst-case seconds from the threshold crossing to detection, for a writer at `percentPerSecond`. */
export function detectionSeconds(
  detector: Detector,
  thresholdPercent: number,
  percentPerSecond: number,
): number {
  if (detector.kind === 'poll') return detector.intervalSeconds;
  // The writer has been writing at this rate from empty; it crosses the threshold at t = 0.
  // Just below the threshold at t = 0 (a sample at the crossing instant does not yet breach).
  const fill: Fill = (t) => Math.min(100, Math.max(0, thresholdPercent + percentPerSecond * t - 1e-9));
  const threshold = (v: Map<number, number>, k: number) => (v.get(k) ?? 0) >= thresholdPercent;
  const r = Math.max(percentPerSecond, 1e-9);
  // The projection can only breach once the fill is within r·H of 100 %: start a few periods before.
  const from = Math.max(
    -thresholdPercent / r,
    (100 - r * (detector.predictiveSeconds ?? 0) - thresholdPercent) / r -
      (detector.alarm.evaluationPeriods + 2) * detector.alarm.periodSeconds,
  );
  let worst = -Infinity;
  for (const phase of phases(detector.collectionSeconds)) {
    let fires = alarmFiresAfter(detector, fill, phase, threshold, 0);
    if (detector.predictiveSeconds !== undefined) {
      const H = detector.predictiveSeconds;
      const P = detector.alarm.periodSeconds;
      // (100 - m1) / RATE(m1) < H, RATE(m1) = (m1[k] - m1[k-1]) / P (CloudWatch metric math RATE).
      const eta = (v: Map<number, number>, k: number) => {
        const now = v.get(k);
        const before = v.get(k - 1);
        if (now === undefined || before === undefined || now <= before) return false;
        return (100 - now) / ((now - before) / P) < H;
      };
      fires = Math.min(fires, alarmFiresAfter(detector, fill, phase, eta, from));
    }
    worst = Math.max(worst, fires);
  }
  return worst;
}

/** A filesystem at its threshold, and the writer filling it. */
export interface RaceState {
  totalGiB: number;
  thresholdPercent: number;
}

export interface RaceResult {
  /** Worst-case seconds from the threshold crossing to the new capacity (at `writerMiBps`). */
  secondsToCapacity: number;
  /** Seconds the free space at the threshold lasts at `writerMiBps`. */
  secondsToFull: number;
  survives: boolean;
}

const MiB_PER_GiB = 1024;

/** One race: detection plus the grow, against the time the free space lasts. */
export function race(
  detector: Detector,
  growSeconds: number,
  state: RaceState,
  writerMiBps: number,
): RaceResult {
  const percentPerSecond = (100 * writerMiBps) / (state.totalGiB * MiB_PER_GiB);
  const secondsToCapacity =
    detectionSeconds(detector, state.thresholdPercent, percentPerSecond) + growSeconds;
  const secondsToFull = (100 - state.thresholdPercent) / percentPerSecond;
  return { secondsToCapacity, secondsToFull, survives: secondsToCapacity < secondsToFull };
}

/** The fastest steady write (MiB/s, 0.1 precision) that never reaches 100 % from the threshold. */
export function maxSafeMiBps(detector: Detector, growSeconds: number, state: RaceState): number {
  if (detector.kind === 'poll' || detector.predictiveSeconds === undefined) {
    // Detection does not depend on the rate: the free space over the time to capacity.
    const seconds = detectionSeconds(detector, state.thresholdPercent, 1) + growSeconds;
    const freeMiB = ((100 - state.thresholdPercent) / 100) * state.totalGiB * MiB_PER_GiB;
    return Math.floor((10 * freeMiB) / seconds) / 10;
  }
  let lo = 0;
  let hi = 1;
  while (race(detector, growSeconds, state, hi).survives && hi < 1e7) hi *= 2;
  for (let i = 0; i < 40 && hi - lo > 0.05; i++) {
    const mid = (lo + hi) / 2;
    if (race(detector, growSeconds, state, mid).survives) lo = mid;
    else hi = mid;
  }
  return Math.floor(lo * 10) / 10;
}

/** One step of a node's growth: its volumes, its size and its threshold. */
export interface Tier {
  devices: number;
  totalGiB: number;
  thresholdPercent: number;
  /** The writer the goal asks to survive: the provisioned throughput of every volume. */
  provisionedMiBps: number;
}

/** Throughput of one volume of the growth settings (gp3: `throughput` or the 125 MiB/s baseline). */
export function volumeMiBps(growth: Pick<GrowthSettings, 'volumeType' | 'throughput'>): number {
  return growth.volumeType === 'gp3'
    ? (growth.throughput ?? GP3_BASELINE_MIBPS)
    : THROUGHPUT_BY_TYPE[growth.volumeType];
}

/**
 * The states a node's filesystem goes through as the policy grows it from a first volume of
 * `firstVolumeGiB`, while a further grow is still allowed (maxVolumes, maxTotalGiB).
 */
export function growthTiers(growth: GrowthSettings, firstVolumeGiB: number): Tier[] {
  const tiers: Tier[] = [];
  const perVolume = volumeMiBps(growth);
  // In place (expand), the filesystem stays on one volume that grows up to maxVolumeGiB.
  const inPlace = growth.strategy === 'expand';
  const largest = inPlace ? Math.min(growth.maxTotalGiB, growth.maxVolumeGiB) : growth.maxTotalGiB;
  let devices = 1;
  let totalGiB = firstVolumeGiB;
  while ((inPlace || devices < growth.maxVolumes) && totalGiB < largest && tiers.length < 256) {
    tiers.push({
      devices,
      totalGiB,
      thresholdPercent: thresholdFor(growth, devices),
      provisionedMiBps: devices * perVolume,
    });
    totalGiB += Math.min(nextVolumeGiB(growth, devices, totalGiB), largest - totalGiB);
    if (!inPlace) devices++;
  }
  return tiers;
}

export interface TierVerdict extends Tier {
  maxSafeMiBps: number;
  survives: boolean;
}

/** Each tier's fastest safe writer against its provisioned throughput. */
export function judgeTiers(detector: Detector, growSeconds: number, tiers: readonly Tier[]): TierVerdict[] {
  return tiers.map((tier) => {
    const maxSafe = maxSafeMiBps(detector, growSeconds, tier);
    return { ...tier, maxSafeMiBps: maxSafe, survives: maxSafe >= tier.provisionedMiBps };
  });
}

export interface HeadroomWarning {
  tier: TierVerdict;
  /** A faster setting that keeps up at every tier, as a settings path and value; undefined if none. */
  fix?: { field: string; value: number };
  message: string;
}

/**
 * The synth-time check: the first tier where the settings cannot keep up with a writer at the
 * volumes' provisioned throughput, and a faster setting that would (a 10 s high-resolution
 * period, else a lower threshold).
 */
export function headroomWarning(
  growth: GrowthSettings,
  firstVolumeGiB: number,
  growSeconds = berthGrowSeconds(),
): HeadroomWarning | undefined {
  const tiers = growthTiers(growth, firstVolumeGiB);
  const verdicts = judgeTiers(berthDetector(growth.alarm), growSeconds, tiers);
  const failing = verdicts.find((v) => !v.survives);
  if (!failing) return undefined;
  const keepsUp = (g: GrowthSettings) =>
    judgeTiers(berthDetector(g.alarm), growSeconds, growthTiers(g, firstVolumeGiB)).every((v) => v.survives);
  let fix: HeadroomWarning['fix'];
  if (growth.alarm.periodSeconds > 10) {
    const faster = { ...growth, alarm: { ...growth.alarm, periodSeconds: 10 } };
    if (keepsUp(faster)) fix = { field: 'growth.alarm.periodSeconds', value: 10 };
  }
  if (!fix) {
    for (let t = growth.initialThresholdPercent - 1; t >= 1; t--) {
      const lower = {
        ...growth,
        initialThresholdPercent: t,
        maxThresholdPercent: Math.min(t, growth.maxThresholdPercent),
      };
      if (keepsUp(lower)) {
        fix = { field: 'growth.initialThresholdPercent', value: t };
        break;
      }
    }
  }
  const where = `${failing.devices} volume${failing.devices > 1 ? 's' : ''}, ${failing.totalGiB} GiB at ${failing.thresholdPercent} %`;
  const message =
    `berth growth cannot keep up: with ${where}, a writer at the volumes' provisioned ${failing.provisionedMiBps} MiB/s ` +
    `fills the disk before new capacity lands (safe up to ${failing.maxSafeMiBps} MiB/s with a ${growth.alarm.periodSeconds} s period)` +
    (fix
      ? `; set ${fix.field} to ${fix.value}, which keeps up at every size tier`
      : '; no faster period or lower threshold keeps up');
  return { tier: failing, ...(fix ? { fix } : {}), message };
}
