/**
 * The metrics contract: every berth metric the synthesized dashboard draws and every operator alarm
 * watches is one the real handlers print, with the same namespace, name and dimensions. The
 * handlers run against the local cloud here; their EMF lines (what CloudWatch Logs turns into
 * metrics) are captured from stdout.
 */
import { App, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import * as autoscaling from 'aws-cdk-lib/aws-autoscaling';
import {
  grow as growHandler,
  launch as launchHandler,
  reconcile as reconcileHandler,
} from '../helpers/handlers';
import { METRICS } from '../../lambdas/shared/metrics';
import { StatefulNodeGroup } from '../../infra/stateful-node-group';
import { CloudFixture } from '../helpers/cloud-fixture';
import { alarmFires, growthFixture, nodeWithSet } from '../lambdas/grow/grow-fixture';

const GROUP = 'etcd-nodes';
const NAMESPACE = 'Berth';

interface MetricId {
  namespace: string;
  name: string;
  dimensions: Record<string, string>;
}
const key = (m: MetricId) =>
  `${m.namespace}|${m.name}|${Object.entries(m.dimensions)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k}=${v}`)
    .join(',')}`;

/** The EMF metrics in the lines printed while `run` runs (Embedded Metric Format specification). */
async function emitted(run: () => Promise<unknown>): Promise<MetricId[]> {
  const lines: string[] = [];
  const saved = process.env.POWERTOOLS_METRICS_DISABLED;
  process.env.POWERTOOLS_METRICS_DISABLED = 'false';
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  try {
    await run();
  } finally {
    spy.mockRestore();
    if (saved === undefined) delete process.env.POWERTOOLS_METRICS_DISABLED;
    else process.env.POWERTOOLS_METRICS_DISABLED = saved;
  }
  const out: MetricId[] = [];
  for (const line of lines.flatMap((l) => l.split('\n')).filter((l) => l.includes('"_aws"'))) {
    const emf = JSON.parse(line) as Record<string, unknown> & {
      _aws: {
        CloudWatchMetrics: { Namespace: string; Dimensions: string[][]; Metrics: { Name: string }[] }[];
      };
    };
    for (const directive of emf._aws.CloudWatchMetrics) {
      for (const set of directive.Dimensions) {
        for (const metric of directive.Metrics) {
          out.push({
            namespace: directive.Namespace,
            name: metric.Name,
            dimensions: Object.fromEntries(set.map((d) => [d, String(emf[d])])),
          });
        }
      }
    }
  }
  return out;
}

/** A template value with every intrinsic (Ref, Fn::GetAtt) replaced by a placeholder string. */
function flatten(value: unknown): string {
  if (typeof value === 'string') return value;
  const join = (value as { 'Fn::Join'?: [string, unknown[]] })['Fn::Join'];
  if (join) return join[1].map(flatten).join(join[0]);
  return 'TOKEN';
}

/** Metrics the dashboard's widgets draw: `[namespace, name, dim, value, …, {options}]` rows. */
function dashboardMetrics(template: Template): MetricId[] {
  const dashboards = Object.values(template.findResources('AWS::CloudWatch::Dashboard'));
  expect(dashboards).toHaveLength(1);
  const body = JSON.parse(flatten(dashboards[0]?.Properties.DashboardBody)) as {
    widgets: { properties: { metrics?: unknown[][] } }[];
  };
  const out: MetricId[] = [];
  for (const widget of body.widgets) {
    for (const row of widget.properties.metrics ?? []) {
      const parts = row.filter((p): p is string => typeof p === 'string');
      const [namespace = '', name = '', ...dims] = parts;
      const dimensions: Record<string, string> = {};
      for (let i = 0; i + 1 < dims.length; i += 2) dimensions[dims[i] ?? ''] = dims[i + 1] ?? '';
      out.push({ namespace, name, dimensions });
    }
  }
  return out;
}

/** Metrics the template's alarms watch (single-metric form, or the MetricStat of each query). */
function alarmMetrics(template: Template): MetricId[] {
  interface Stat {
    Namespace: string;
    MetricName: string;
    Dimensions?: { Name: string; Value: unknown }[];
  }
  const id = (p: Stat): MetricId => ({
    namespace: p.Namespace,
    name: p.MetricName,
    dimensions: Object.fromEntries((p.Dimensions ?? []).map((d) => [d.Name, flatten(d.Value)])),
  });
  return Object.values(template.findResources('AWS::CloudWatch::Alarm')).flatMap((r) => {
    const p = r.Properties as Stat & { Metrics?: { MetricStat?: { Metric: Stat } }[] };
    if (!p.Metrics) return [id(p)];
    return p.Metrics.flatMap((q) => (q.MetricStat ? [id(q.MetricStat.Metric)] : []));
  });
}

describe('the metrics contract between the handlers and the infra', () => {
  let template: Template;
  const fromHandlers = new Map<string, MetricId>();

  beforeAll(async () => {
    const app = new App({ context: { 'aws:cdk:bundling-stacks': [] } });
    const stack = new Stack(app, 'Contract', { env: { account: '111111111111', region: 'eu-west-1' } });
    new StatefulNodeGroup(stack, 'Berth', {
      autoScalingGroup: autoscaling.AutoScalingGroup.fromAutoScalingGroupName(stack, 'G', GROUP),
      filters: 'Service=etcd',
      growth: { strategy: 'add-device' },
    });
    template = Template.fromStack(stack);

    const record = (list: MetricId[]) => list.forEach((m) => fromHandlers.set(key(m), m));
    // The reconciler's gauges, growth on.
    {
      const fx = growthFixture({}, { settings: { groupName: GROUP } });
      const restore = fx.plugHandlers();
      try {
        record(await emitted(() => reconcileHandler({ 'detail-type': 'Scheduled Event' })));
      } finally {
        restore();
      }
    }
    // A grow, a refused grow, a failed grow.
    for (const scenario of ['grow', 'refuse', 'fail'] as const) {
      const fx = growthFixture(scenario === 'refuse' ? { maxVolumes: 1 } : {}, {
        settings: { groupName: GROUP },
      });
      const restore = fx.plugHandlers();
      try {
        const { instanceId } = await nodeWithSet(fx);
        const event = await alarmFires(fx, instanceId);
        if (scenario === 'fail') fx.cloud.faults.failNext('CreateVolume', 'VolumeLimitExceeded');
        record(await emitted(() => growHandler(event).catch(() => undefined)));
      } finally {
        restore();
      }
    }
    // A launch abandoned for want of a free set.
    {
      const fx = new CloudFixture({ sets: 0, settings: { groupName: GROUP, whenNoSetFree: 'abandon' } });
      const restore = fx.plugHandlers();
      try {
        fx.launch(1);
        const [event] = fx.launchEvents();
        record(await emitted(() => launchHandler(event)));
      } finally {
        restore();
      }
    }
  }, 120_000);

  it('sees every berth metric emitted by a real handler run, with the Group dimension only', () => {
    const names = [...fromHandlers.values()].map((m) => m.name).sort();
    expect(names).toEqual(
      Object.values(METRICS)
        .map((m) => m.name)
        .sort(),
    );
    for (const m of fromHandlers.values()) {
      expect(m).toEqual({ namespace: NAMESPACE, name: m.name, dimensions: { Group: GROUP } });
    }
  });

  it('draws on the dashboard only berth metrics the handlers emit, and every one of them', () => {
    const drawn = dashboardMetrics(template);
    const ours = drawn.filter((m) => !m.namespace.startsWith('AWS/'));
    expect(ours.length).toBeGreaterThan(0);
    for (const m of ours) expect(fromHandlers.has(key(m)) ? key(m) : `not emitted: ${key(m)}`).toBe(key(m));
    expect(new Set(ours.map(key))).toEqual(new Set(fromHandlers.keys()));
    // The rest are AWS's own metrics (function errors, the dead-letter queue).
    expect(drawn.filter((m) => m.namespace.startsWith('AWS/')).map((m) => m.namespace)).toEqual(
      expect.arrayContaining(['AWS/Lambda', 'AWS/SQS']),
    );
  });

  it('alarms only on metrics the handlers emit (or the dead-letter queue)', () => {
    const watched = alarmMetrics(template);
    expect(watched.length).toBe(7);
    for (const m of watched) {
      if (m.namespace === 'AWS/SQS') continue;
      expect(fromHandlers.has(key(m)) ? key(m) : `not emitted: ${key(m)}`).toBe(key(m));
    }
  });
});
