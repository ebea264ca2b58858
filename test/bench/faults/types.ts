/** The fault campaign's options and results (the JSON line's shape). */
import type { InvariantName, Violation } from '../../demo/invariants';

export interface CampaignOptions {
  seeds: readonly number[];
  /** Lifecycle and alarm events per seed (distinct events; duplicates and retries come on top). */
  eventsPerSeed: number;
  sets?: number;
  throttleRate?: number;
  errorRate?: number;
  duplicateRate?: number;
  /** Share of solo deliveries during which the handler is killed after a random AWS call. */
  killRate?: number;
  /** Share of host script runs that fail (a failed prepare, grow or quiesce). */
  scriptFailureRate?: number;
  /** Print each log line as it happens. */
  verbose?: boolean;
  /** New instances whose SSM agent registers 1-10 minutes late / never registers. */
  agentLateRate?: number;
  agentNeverRate?: number;
  /** AttachVolume calls whose attachment sticks in `attaching`. */
  attachStuckRate?: number;
  /** Invocations cut at a (short) Lambda deadline: the run stops mid-flow, EventBridge retries. */
  deadlineRate?: number;
  /** Host script runs that take minutes (they stay InProgress past a short deadline). */
  slowCommandRate?: number;
  /** World steps (per step) that take an agent offline, brown out an AZ, stop an instance, flap an alarm. */
  agentOfflineRate?: number;
  azBrownoutRate?: number;
  instanceStoppedRate?: number;
  alarmFlapRate?: number;
}

/** Fault kinds counted in the JSON line (`faultsByKind`). */
export const FAULT_KINDS = [
  'throttle',
  'error',
  'kill',
  'duplicate',
  'agentLate',
  'agentOffline',
  'agentNever',
  'azBrownout',
  'attachStuck',
  'deadline',
  'slowCommand',
  'instanceStopped',
  'alarmFlap',
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface LogEntry {
  n: number;
  /** Virtual seconds since the start of the seed's run. */
  t: number;
  what: string;
}

export interface SeedResult {
  seed: number;
  /** The run's target (replay with the same figure). */
  eventsPerSeed: number;
  events: number;
  /** launch / terminate / alarm events. */
  /** Handler results of the runs that finished (`launch:node`, `launch:abandoned`, `grow:grown`, …). */
  outcomes: Record<string, number>;
  eventsByKind: Record<string, number>;
  deliveries: number;
  duplicates: number;
  kills: number;
  failedRuns: number;
  reconciles: number;
  violations: Violation[];
  log: LogEntry[];
  apiCalls: number;
  faultsByKind: Record<string, number>;
  /** Peak resident set size (MiB) of the process after this seed. */
  peakRssMiB?: number;
  /** CPU time (user + system) this seed's run took in its process, seconds. */
  cpuSeconds?: number;
  /** Handler calls IAM refused (the synthesized policies): must be 0. */
  iamDenied: number;
  /** What IAM refused (`launch ec2:AttachVolume: UnauthorizedOperation: …`). */
  iamDenials: string[];
}

export interface CampaignResult {
  bench: 'faults';
  events: number;
  outcomes: Record<string, number>;
  eventsByKind: Record<string, number>;
  seeds: number;
  violations: number;
  byInvariant: Record<InvariantName, number>;
  deliveries: number;
  duplicates: number;
  kills: number;
  failedRuns: number;
  reconciles: number;
  apiCalls: number;
  faultsByKind: Record<string, number>;
  /** Handler calls IAM refused (the synthesized policies): must be 0. */
  iamDenied: number;
  /** Wall time of the whole run (all workers), seconds. */
  seconds: number;
  /** CPU time the seeds took, added up over processes (what one core would need), seconds. */
  cpuSeconds: number;
  failedSeeds: number[];
  /** Peak RSS (MiB) over the run's processes, and per 10,000 events (soak: memory stays flat). */
  peakRssMiB?: number;
  rssPer10kEvents?: number[];
}

/** What the JSON line adds up, per seed. */
export type SeedSummary = Omit<SeedResult, 'log' | 'violations'> & { violations: Violation[] };
