/**
 * berth's own CloudWatch metrics: their names, their one dimension and who emits them, written
 * once. The handlers emit them here (Embedded Metric Format through Powertools Metrics: one EMF line
 * on stdout per publish); the infra's dashboard and alerting alarms query them from this same
 * table (infra/dashboard.ts, infra/alerting.ts), and a test compares the synthesized template with
 * what real handler runs print (test/infra/metrics-contract.test.ts).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Settings } from './config';
import type { Deps } from './deps';

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

type MetricSettings = Pick<Settings, 'metricsNamespace' | 'groupName'>;

/**
 * A Powertools Metrics instance whose lines carry the `Group` dimension and nothing else:
 * Powertools adds a default `service` dimension, which the dashboard and alarms do not query.
 */
export function groupMetrics(settings: MetricSettings, service: string): Metrics {
  const metrics = new Metrics({ namespace: settings.metricsNamespace, serviceName: `berth-${service}` });
  metrics.clearDefaultDimensions();
  metrics.addDimension(METRIC_DIMENSION, settings.groupName);
  return metrics;
}

/** Publishes the gauges; returns the Metrics instance used. */
export function publishGauges(
  deps: Pick<Deps, 'settings' | 'logger'>,
  gauges: Gauges,
  metrics: Metrics = groupMetrics(deps.settings, 'reconcile'),
): Metrics {
  for (const [name, value] of Object.entries(gauges)) metrics.addMetric(name, MetricUnit.Count, value);
  metrics.publishStoredMetrics();
  deps.logger.info('gauges published', { ...gauges });
  return metrics;
}

/** Counts one event of a `count` metric (with optional metadata such as a refusal's reason). */
export function countEvent(
  settings: MetricSettings,
  key: { [K in MetricKey]: (typeof METRICS)[K]['kind'] extends 'count' ? K : never }[MetricKey],
  metadata: Record<string, string> = {},
): void {
  const definition = METRICS[key];
  const metrics = groupMetrics(settings, definition.emitter);
  for (const [k, v] of Object.entries(metadata)) metrics.addMetadata(k, v);
  metrics.addMetric(definition.name, MetricUnit.Count, 1);
  metrics.publishStoredMetrics();
}
