/**
 * berth's own CloudWatch metrics, the contract between the handlers that emit them
 * (lambdas/shared/metrics.ts) and the infra that queries them (infra/dashboard.ts,
 * infra/alerting.ts): names, the one dimension, the kind and the emitter, written once. No imports:
 * the published construct library reads this table at synth without any Lambda dependency.
 */
/** The only dimension of every berth metric: the Auto Scaling group's name. */
export const METRIC_DIMENSION = 'Group';

/** How a metric is read: a gauge (last value of a reconcile run) or a count of events. */
export type MetricKind = 'gauge' | 'count';

export interface MetricDefinition {
  readonly name: string;
  readonly kind: MetricKind;
  /** The handler that emits it. */
  readonly emitter: 'reconcile' | 'grow' | 'launch';
  readonly description: string;
}

/** Every metric berth emits, in `settings.metricsNamespace`, dimension `Group` only. */
export const METRICS = {
  freeSets: {
    name: 'FreeSets',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'complete sets nobody holds',
  },
  heldSets: {
    name: 'Nodes',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'instances that hold a complete set',
  },
  spares: {
    name: 'Spares',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'InService instances holding no set',
  },
  halfAttached: {
    name: 'HalfAttached',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'sets with some pieces attached and others not, found at the start of a reconcile run',
  },
  badSets: {
    name: 'BadSets',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'NodeIDs whose resources do not form a valid set',
  },
  heldElsewhere: {
    name: 'HeldElsewhere',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'sets with a piece attached to an instance outside the group (reported, never touched)',
  },
  unprepared: {
    name: 'Unprepared',
    kind: 'gauge',
    emitter: 'reconcile',
    description:
      'InService holders whose prepare-node has not succeeded for the set they hold, after this run',
  },
  stuckDiskAlarms: {
    name: 'StuckDiskAlarms',
    kind: 'gauge',
    emitter: 'reconcile',
    description: 'disk alarms still in ALARM after a grow should have landed (re-armed by the reconciler)',
  },
  grows: { name: 'Grows', kind: 'count', emitter: 'grow', description: 'filesystems grown' },
  growRefusals: {
    name: 'GrowRefusals',
    kind: 'count',
    emitter: 'grow',
    description: 'grows the policy refused (reason in the EMF line)',
  },
  growFailures: {
    name: 'GrowFailures',
    kind: 'count',
    emitter: 'grow',
    description: 'grows that failed with an error',
  },
  launchesAbandoned: {
    name: 'LaunchesAbandoned',
    kind: 'count',
    emitter: 'launch',
    description: 'launch lifecycle actions completed with ABANDON',
  },
} as const satisfies Record<string, MetricDefinition>;

export type MetricKey = keyof typeof METRICS;

type GaugeName = Extract<(typeof METRICS)[MetricKey], { kind: 'gauge' }>['name'];

/** The gauges the reconciler publishes after each run, by metric name (see METRICS). */
export type Gauges = Record<GaugeName, number>;
