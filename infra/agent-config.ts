/**
 * The CloudWatch agent configuration the hosts of a group run (side-effect free). berth's disk
 * alarms watch `disk_used_percent` in `CWAgent` with the dimensions `InstanceId`, `path` and
 * `fstype`: `drop_device` removes `device`, whose NVMe name changes across boots.
 */
import { agentSchedule } from '../lambdas/domain/growth-headroom';

export interface AgentConfigOptions {
  /** The filesystem berth grows. */
  readonly mountPoint: string;
  /** Seconds between samples: the alarm's period (10 and 30 publish high-resolution metrics). */
  readonly intervalSeconds: number;
}

export const AGENT_NAMESPACE = 'CWAgent';
export const DISK_METRIC = 'disk_used_percent';

export function cloudWatchAgentConfig(options: AgentConfigOptions) {
  const schedule = agentSchedule(options.intervalSeconds);
  return {
    agent: { metrics_collection_interval: schedule.collectionSeconds },
    metrics: {
      namespace: AGENT_NAMESPACE,
      // Sent at every sample: the default keeps metrics up to 60 s in memory, which would delay a
      // 10 s alarm by a minute (lambdas/grow/headroom.ts, AGENT_DEFAULT_FLUSH_SECONDS).
      force_flush_interval: schedule.flushSeconds,
      append_dimensions: { InstanceId: '${aws:InstanceId}' },
      metrics_collected: {
        disk: {
          measurement: ['used_percent'],
          resources: [options.mountPoint],
          drop_device: true,
          metrics_collection_interval: schedule.collectionSeconds,
        },
      },
    },
  };
}
