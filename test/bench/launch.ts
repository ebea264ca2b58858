/**
 * `npm run bench -- launch [--sets 10,100,1000] [--concurrent 1,10,100] [--volumes 1] [--start hash]`: C launches
 * at once over N sets against the local cloud (realistic attach delays: 2 s attach, 20 s boot,
 * 30 s agent registration), calling the launch core with `cloud.clients({ retryDelayMs: 0 })`.
 * One JSON line per (N, C):
 * - apiCallsPerLaunch: every AWS call (all services, throttled attempts included) / C;
 * - attemptsPerClaim: primary-volume attach attempts / sets claimed;
 * - doubleClaims: sets with pieces on two instances + instances holding two sets;
 * - unclaimedWhileFree: launches that ended without a set while a set was still free at the end.
 */
import { launchNode, type LaunchOutcome } from '../../lambdas/launch/core';
import { parseLifecycleEvent } from '../../lambdas/shared/events';
import { CloudFixture } from '../helpers/cloud-fixture';

function listArg(args: string[], name: string, fallback: number[]): number[] {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? args[i + 1] : undefined;
  return value ? value.split(',').map(Number) : fallback;
}

export interface LaunchBenchLine {
  bench: 'launch';
  sets: number;
  concurrent: number;
  apiCallsPerLaunch: number;
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

export async function measure(
  sets: number,
  concurrent: number,
  volumesPerSet = 1,
  searchStart: 'rank' | 'hash' = 'rank',
): Promise<LaunchBenchLine> {
  const started = Date.now();
  const fx = new CloudFixture({ sets, volumesPerSet, seed: sets * 1000 + concurrent });
  fx.launch(concurrent);
  const actions = fx.launchEvents().map((e) => parseLifecycleEvent(e, 'launch'));
  fx.cloud.accounting.reset();
  const t0 = fx.cloud.clock.now();
  const deps = fx.deps();
  const outcomes: LaunchOutcome[] = await Promise.all(
    actions.map((a) => launchNode(deps, a, { searchStart })),
  );
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
  const setCounts = listArg(args, 'sets', [10, 100, 1000]);
  const concurrency = listArg(args, 'concurrent', [1, 10, 100]);
  const [volumes = 1] = listArg(args, 'volumes', [1]);
  const startAt = args.indexOf('--start');
  const searchStart = args[startAt + 1] === 'hash' && startAt >= 0 ? 'hash' : 'rank';
  for (const n of setCounts) {
    for (const c of concurrency) {
      process.stdout.write(`${JSON.stringify(await measure(n, c, volumes, searchStart))}\n`);
    }
  }
}
