/**
 * berth's gauges as CloudWatch metrics in the Embedded Metric Format (Powertools Metrics): one EMF
 * line on stdout per publish, dimension `Group`.
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import type { Deps } from './deps';

export interface Gauges {
  /** Complete sets that nobody holds. */
  FreeSets: number;
  /** Instances that hold a complete set. */
  Nodes: number;
  /** InService instances that hold no set. */
  Spares: number;
  /** Sets with some pieces attached and others not (or attached to different instances). */
  HalfAttached: number;
  /** NodeIDs whose resources do not form a valid set. */
  BadSets: number;
  /**
   * InService holders of a complete set whose prepare-node has not succeeded for that set (no
   * `berth:prepared` tag naming it), left after this run's re-prepares.
   */
  Unprepared: number;
}

/** Publishes the gauges; returns the Metrics instance used (tests read its output). */
export function publishGauges(
  deps: Pick<Deps, 'settings' | 'logger'>,
  gauges: Gauges,
  metrics: Metrics = new Metrics({ namespace: deps.settings.metricsNamespace, serviceName: 'berth' }),
): Metrics {
  metrics.addDimension('Group', deps.settings.groupName);
  for (const [name, value] of Object.entries(gauges)) metrics.addMetric(name, MetricUnit.Count, value);
  metrics.publishStoredMetrics();
  deps.logger.info('gauges published', { ...gauges });
  return metrics;
}
