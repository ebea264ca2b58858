/**
 * `npm run bench -- launch [--sets 10,100,1000] [--concurrent 1,10,100] [--volumes 1] [--start hash]
 * [--no-buckets]`: C launches at once over N sets against the local cloud (realistic delays: 2 s
 * attach, 20 s boot, 30 s agent registration, 2 s prepare-node), with EC2's request token buckets
 * on (EC2_REQUEST_BUCKETS: the documented defaults, local-cloud/src/ec2/), calling the launch
 * core with `cloud.clients({ retryDelayMs: 0 })`. One JSON line per (N, C):
 * - apiCallsPerLaunch: every AWS call (all services, throttled attempts included) / C;
 * - throttledCalls: calls answered RequestLimitExceeded / Throttling (all launches together);
 * - mutatingCallsPerLaunch: EC2 calls that are not Describe* (the small request buckets) / C;
 * - virtualSecondsP50 / P99: virtual time from the launch to CONTINUE (or the outcome), per launch;
 * - overheadSeconds: P50 minus the model's floor (floorSeconds: boot + agent registration +
 *   delivery + the prepare-node run, from the local cloud's configured latencies);
 * - timedOutActions: lifecycle actions that reached their heartbeat timeout;
 * - attemptsPerClaim: primary-volume attach attempts / sets claimed;
 * - doubleClaims: sets with pieces on two instances + instances holding two sets;
 * - unclaimedWhileFree: launches that ended without a set while a set was still free at the end.
 */
import { launchNode, type LaunchOutcome } from '../../lambdas/launch/core';
import { parseLifecycleEvent } from '../../lambdas/shared/events';
import { benchArgs } from './args';
import { CloudFixture } from '../helpers/cloud-fixture';
import { EC2_REQUEST_BUCKETS } from '../../local-cloud/src/ec2';

export interface LaunchBenchLine {
  bench: 'launch';
  sets: number;
  concurrent: number;
  apiCallsPerLaunch: number;
  throttledCalls: number;
  mutatingCallsPerLaunch: number;
  virtualSecondsP50: number;
  virtualSecondsP99: number;
  floorSeconds: number;
  overheadSeconds: number;
  timedOutActions: number;
  requestBuckets: boolean;
  attemptsPerClaim: number;
  doubleClaims: number;
  unclaimedWhileFree: number;
  ec2DescribeCallsPerLaunch: number;
  nodes: number;
  spares: number;
  virtualSeconds: number;
  searchStart: 'rank' | 'hash';
  wallMs: number;
}

/** The q-quantile (0..1) of the values, nearest rank. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
}

export async function measure(
  sets: number,
  concurrent: number,
  volumesPerSet = 1,
  searchStart: 'rank' | 'hash' = 'rank',
  buckets = true,
): Promise<LaunchBenchLine> {
  const started = Date.now();
  const fx = new CloudFixture({ sets, volumesPerSet, seed: sets * 1000 + concurrent });
  if (buckets) fx.cloud.ec2.requestBuckets = { ...EC2_REQUEST_BUCKETS };
  const launchedAt = fx.cloud.clock.now();
  fx.launch(concurrent);
  const actions = fx.launchEvents().map((e) => parseLifecycleEvent(e, 'launch'));
  fx.cloud.accounting.reset();
  fx.cloud.accounting.keepLog = true;
  const t0 = fx.cloud.clock.now();
  const deps = fx.deps();
  const seconds: number[] = [];
  const outcomes: LaunchOutcome[] = await Promise.all(
    actions.map((a) =>
      launchNode(deps, a, { searchStart }).then((o) => {
        seconds.push((fx.cloud.clock.now() - launchedAt) / 1000);
        return o;
      }),
    ),
  );
  // The floor of one launch on this model: the instance runs, its agent registers, the command is
  // delivered and prepare-node runs (the local cloud's configured latencies).
  const floorSeconds =
    (fx.cloud.ec2.timing.instanceBootMs +
      fx.cloud.ssm.agentOnlineDelayMs +
      fx.cloud.ssm.deliveryDelayMs +
      fx.cloud.ssm.recorder.durationMs) /
    1000;
  const log = fx.cloud.accounting.log;
  const throttledCalls = log.filter((c) => /RequestLimitExceeded|Throttl/.test(c.error ?? '')).length;
  const mutating = log.filter((c) => c.service === 'ec2' && !c.operation.startsWith('Describe')).length;
  const calls = fx.cloud.accounting.snapshot();
  const total = Object.values(calls).reduce((a, b) => a + b, 0);
  const describes = Object.entries(calls)
    .filter(([k]) => k.startsWith('ec2:Describe'))
    .reduce((a, [, v]) => a + v, 0);
  const claimed = outcomes.filter((o) => o.result === 'node').length;
  const attempts = outcomes.reduce((n, o) => n + ('attempts' in o ? o.attempts : 0), 0);

  // Double claims: a set with pieces on two instances, or an instance with volumes of two sets.
  const key = fx.settings.nodeIdTagKey;
  const bySet = new Map<string, Set<string>>();
  const byInstance = new Map<string, Set<string>>();
  for (const v of fx.cloud.ec2.volumes()) {
    const nodeId = v.tags[key];
    if (!nodeId) continue;
    for (const a of v.attachments) {
      bySet.set(nodeId, (bySet.get(nodeId) ?? new Set()).add(a.instanceId));
      byInstance.set(a.instanceId, (byInstance.get(a.instanceId) ?? new Set()).add(nodeId));
    }
  }
  for (const e of fx.cloud.ec2.networkInterfaces()) {
    const nodeId = e.tags[key];
    if (nodeId && e.attachment)
      bySet.set(nodeId, (bySet.get(nodeId) ?? new Set()).add(e.attachment.instanceId));
  }
  const doubleClaims =
    [...bySet.values()].filter((s) => s.size > 1).length +
    [...byInstance.values()].filter((s) => s.size > 1).length;
  const freeAtEnd = fx.sets.filter(
    (s) => fx.cloud.ec2.volume(s.volumeIds[0] ?? '')?.state === 'available',
  ).length;
  const withoutSet = outcomes.filter((o) => o.result !== 'node').length;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    bench: 'launch',
    sets,
    concurrent,
    apiCallsPerLaunch: round(total / concurrent),
    throttledCalls,
    mutatingCallsPerLaunch: round(mutating / concurrent),
    virtualSecondsP50: round(quantile(seconds, 0.5)),
    virtualSecondsP99: round(quantile(seconds, 0.99)),
    floorSeconds: round(floorSeconds),
    overheadSeconds: round(quantile(seconds, 0.5) - floorSeconds),
    timedOutActions: fx.cloud.autoscaling.timedOutActions().length,
    requestBuckets: buckets,
    attemptsPerClaim: claimed ? round(attempts / claimed) : 0,
    doubleClaims,
    unclaimedWhileFree: Math.min(withoutSet, freeAtEnd),
    ec2DescribeCallsPerLaunch: round(describes / concurrent),
    nodes: claimed,
    spares: outcomes.filter((o) => o.result === 'spare').length,
    virtualSeconds: round((fx.cloud.clock.now() - t0) / 1000),
    searchStart,
    wallMs: Date.now() - started,
  };
}

export async function run(args: string[]): Promise<void> {
  // Only the JSON lines on stdout: the handlers' logs stay quiet unless asked for.
  process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT';
  const options = benchArgs(args, {
    bench: 'launch',
    summary: 'C simultaneous launches over N sets, with EC2 request token buckets on',
    options: {
      sets: { type: 'ints', default: [10, 100, 1000], min: 1, description: 'set counts N to measure' },
      concurrent: { type: 'ints', default: [1, 10, 100], min: 1, description: 'simultaneous launches C' },
      volumes: { type: 'int', default: 1, min: 1, max: 63, description: 'volumes per set' },
      start: {
        type: 'choice',
        choices: ['rank', 'hash'],
        default: 'rank',
        description: 'where a launch starts its search',
      },
      'no-buckets': { type: 'flag', description: "turn EC2's request token buckets off" },
    },
  });
  if (!options) return;
  const { volumes, start: searchStart } = options;
  const buckets = !options['no-buckets'];
  for (const n of options.sets) {
    for (const c of options.concurrent) {
      process.stdout.write(`${JSON.stringify(await measure(n, c, volumes, searchStart, buckets))}\n`);
    }
  }
}
