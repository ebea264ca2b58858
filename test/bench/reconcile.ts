/**
 * `npm run bench -- reconcile [--sets 10,100,1000]`: one reconciler run against the local cloud,
 * for N node sets each held by an InService node (growth on: one disk alarm per node), healthy and
 * with 5 % of the sets broken (half of them half-attached: the ENI detached from its node; half
 * with their disk alarm deleted). The nodes are launched through the real launch core first; the
 * run measured is the reconcile core with `cloud.clients({ retryDelayMs: 0 })`.
 *
 * One JSON line per (N, healthy|broken): `callsPerRun` (every AWS call), `virtualSeconds`, calls by
 * operation, and the pages the run cannot avoid (`volumePages`: one DescribeVolumes page per 500
 * set volumes, listed once per healthy run), and a day of it on the construct's schedule (every DEFAULT_RECONCILE_MINUTES, the
 * function's memory): API calls and Lambda GB-seconds, a run lasting its virtual seconds plus
 * API_CALL_SECONDS per call. Goal: a healthy run at 1,000 sets costs what it costs at 10, within
 * one page per 500 volumes.
 *
 * The alarm audit (lambdas/shared/growth-reconcile.ts `repairAlarms`) covers the whole group every
 * run up to one DescribeAlarms page (100 alarms) and one shard of 16 per run above it, so a broken
 * run heals only the missing alarms of its shard: `alarmsMissing` before it, `alarmsHealedPerRun`
 * (the measured run, then the next runs on the schedule until none is missing), `runsToHealAlarms`
 * and `alarmAuditCycleRuns` (1, or 16 runs = 16 × the reconcile interval).
 */
import { DeleteAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { DetachNetworkInterfaceCommand } from '@aws-sdk/client-ec2';
import { launchNode } from '../../lambdas/launch/core';
import { reconcile } from '../../lambdas/reconcile/core';
import { alarmName, ALARMS_PER_PAGE, AUDIT_SHARDS } from '../../lambdas/shared/alarm-names';
import { parseLifecycleEvent } from '../../lambdas/shared/events';
import { CloudFixture } from '../helpers/cloud-fixture';
import { DEFAULT_RECONCILE_MINUTES, FUNCTION_DEFAULTS } from '../../infra/defaults';
import { API_CALL_SECONDS } from '../../lambdas/domain/growth-headroom';
import { benchArgs } from './args';

/** Runs a day on the construct's schedule, and the function's memory (GiB) as the construct sets it. */
const RUNS_PER_DAY = (24 * 60) / DEFAULT_RECONCILE_MINUTES;
const MEMORY_GIB = FUNCTION_DEFAULTS.reconcile.memoryMiB / 1024;

const LAUNCH_BATCH = 100;

/** N sets, each held by a node launched through the launch core, then a settling reconcile. */
async function healthyGroup(sets: number): Promise<CloudFixture> {
  const fx = new CloudFixture({ sets, seed: sets, settings: { growth: {} } });
  const deps = fx.deps();
  for (let done = 0; done < sets; done += LAUNCH_BATCH) {
    const n = Math.min(LAUNCH_BATCH, sets - done);
    fx.launch(n);
    const actions = fx.launchEvents().map((e) => parseLifecycleEvent(e, 'launch'));
    const outcomes = await Promise.all(actions.map((a) => launchNode(deps, a)));
    const spares = outcomes.filter((o) => o.result !== 'node').length;
    if (spares > 0) throw new Error(`reconcile bench: ${spares} launches did not claim a set`);
  }
  // Past every in-flight window, then one run to settle whatever the launches left to do.
  await fx.cloud.clock.sleep(3_600_000);
  await reconcile(deps);
  return fx;
}

/** Breaks 5 % of the sets: every other one half-attached (ENI detached), the rest without alarm. */
async function breakSets(fx: CloudFixture): Promise<number> {
  const holders = fx.holders();
  const broken = fx.sets.filter((_, i) => i % 20 === 0);
  for (const [k, set] of broken.entries()) {
    const holder = holders.get(set.nodeId);
    if (!holder) throw new Error(`reconcile bench: ${set.nodeId} has no holder`);
    if (k % 2 === 0) {
      const eni = fx.cloud.ec2
        .networkInterfaces()
        .find((e) => e.networkInterfaceId === set.networkInterfaceId);
      const attachmentId = eni?.attachment?.attachmentId;
      if (!attachmentId) throw new Error(`reconcile bench: ${set.networkInterfaceId} is not attached`);
      await fx.clients.ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId: attachmentId }));
    } else {
      await fx.clients.cloudWatch.send(
        new DeleteAlarmsCommand({ AlarmNames: [alarmName(fx.settings, holder)] }),
      );
    }
  }
  await fx.cloud.clock.sleep(60_000);
  return broken.length;
}

/** The nodes whose disk alarm is missing. */
function withoutAlarm(fx: CloudFixture): string[] {
  const alarms = new Set(fx.cloud.cloudwatch.alarmNames());
  return [...fx.holders().values()].filter(
    (id): id is string => id !== undefined && !alarms.has(alarmName(fx.settings, id)),
  );
}

/** Runs on the schedule after the measured one until no alarm is missing (at most one cycle more). */
async function healAlarms(fx: CloudFixture, healedPerRun: number[]): Promise<void> {
  for (let run = 0; run < AUDIT_SHARDS && withoutAlarm(fx).length > 0; run++) {
    const before = withoutAlarm(fx).length;
    await fx.cloud.clock.sleep(DEFAULT_RECONCILE_MINUTES * 60_000);
    await reconcile(fx.deps());
    healedPerRun.push(before - withoutAlarm(fx).length);
  }
}

async function measure(fx: CloudFixture, sets: number, broken: number) {
  const missing = withoutAlarm(fx).length;
  fx.cloud.accounting.reset();
  const t0 = fx.cloud.clock.now();
  const report = await reconcile(fx.deps());
  const healedPerRun = [missing - withoutAlarm(fx).length];
  const byOperation = fx.cloud.accounting.snapshot();
  const calls = Object.values(byOperation).reduce((a, b) => a + b, 0);
  const virtualSeconds = (fx.cloud.clock.now() - t0) / 1000;
  // The local cloud answers in no virtual time: each call costs API_CALL_SECONDS on top (sequential, pessimistic).
  const durationSeconds = virtualSeconds + calls * API_CALL_SECONDS;
  return {
    bench: 'reconcile',
    sets,
    state: broken > 0 ? 'broken' : 'healthy',
    brokenSets: broken,
    callsPerRun: calls,
    virtualSeconds: Math.round(virtualSeconds * 10) / 10,
    estimatedDurationSeconds: Math.round(durationSeconds * 10) / 10,
    apiCallsPerDay: calls * RUNS_PER_DAY,
    gbSecondsPerDay: Math.round(MEMORY_GIB * durationSeconds * RUNS_PER_DAY),
    runsPerDay: RUNS_PER_DAY,
    memoryMiB: FUNCTION_DEFAULTS.reconcile.memoryMiB,
    // The set volumes the run lists (root volumes carry no NodeID: the listing's filter leaves them out).
    volumePages: Math.ceil(
      fx.cloud.ec2.volumes().filter((v) => v.tags[fx.settings.nodeIdTagKey]).length / 500,
    ),
    finished: report.finished.length,
    errors: report.errors.length,
    byOperation,
    // Each node has one disk alarm (no predictive alarm here): the audit is whole up to one page.
    alarmAuditCycleRuns: sets <= ALARMS_PER_PAGE ? 1 : AUDIT_SHARDS,
    alarmsMissing: missing,
    ...(missing > 0 ? await alarmHealing(fx, healedPerRun) : {}),
  };
}

/** After the measured run: the runs on the schedule until every alarm is back (not counted above). */
async function alarmHealing(fx: CloudFixture, healedPerRun: number[]) {
  await healAlarms(fx, healedPerRun);
  return {
    alarmsHealedPerRun: healedPerRun,
    runsToHealAlarms: healedPerRun.length,
    alarmsStillMissing: withoutAlarm(fx).length,
  };
}

export async function run(args: string[]): Promise<void> {
  const options = benchArgs(args, {
    bench: 'reconcile',
    summary: 'one reconcile run over N healthy sets, then one over the same sets with faults',
    options: {
      sets: { type: 'ints', default: [10, 100, 1000], min: 1, description: 'set counts to measure' },
    },
  });
  if (!options) return;
  process.env.POWERTOOLS_LOG_LEVEL = process.env.POWERTOOLS_LOG_LEVEL ?? 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED = 'true';
  for (const sets of options.sets) {
    const fx = await healthyGroup(sets);
    process.stdout.write(`${JSON.stringify(await measure(fx, sets, 0))}\n`);
    const broken = await breakSets(fx);
    process.stdout.write(`${JSON.stringify(await measure(fx, sets, broken))}\n`);
  }
}
