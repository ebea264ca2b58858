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

export {
  METRIC_DIMENSION,
  METRICS,
  type Gauges,
  type MetricDefinition,
  type MetricKey,
  type MetricKind,
} from './metric-names';
import { METRIC_DIMENSION, METRICS, type Gauges, type MetricKey } from './metric-names';

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
