/** What the JSON line adds up over seeds, and what a violation prints. */
import { countViolations } from '../../demo/invariants';
import { FAULT_KINDS, type CampaignResult, type SeedResult, type SeedSummary } from './types';

export function summary(r: SeedResult): SeedSummary {
  const { log: _log, ...rest } = r;
  return rest;
}

export function summarize(seeds: readonly SeedSummary[], elapsedMs: number): CampaignResult {
  const all = seeds.flatMap((s) => s.violations);
  const sum = (f: (s: SeedSummary) => number): number => seeds.reduce((a, s) => a + f(s), 0);
  return {
    bench: 'faults',
    events: sum((s) => s.events),
    eventsByKind: Object.fromEntries(
      ['launch', 'terminate', 'alarm'].map((k) => [k, sum((s) => s.eventsByKind[k] ?? 0)]),
    ),
    seeds: seeds.length,
    violations: all.length,
    outcomes: addUp(seeds.map((s) => s.outcomes)),
    byInvariant: countViolations(all),
    deliveries: sum((s) => s.deliveries),
    duplicates: sum((s) => s.duplicates),
    kills: sum((s) => s.kills),
    failedRuns: sum((s) => s.failedRuns),
    reconciles: sum((s) => s.reconciles),
    apiCalls: sum((s) => s.apiCalls),
    faultsByKind: Object.fromEntries(FAULT_KINDS.map((k) => [k, sum((s) => s.faultsByKind[k] ?? 0)])),
    iamDenied: sum((s) => s.iamDenied ?? 0),
    seconds: Math.round(elapsedMs / 100) / 10,
    cpuSeconds: Math.round(sum((s) => s.cpuSeconds ?? 0) * 10) / 10,
    failedSeeds: seeds.filter((s) => s.violations.length > 0 || s.iamDenied > 0).map((s) => s.seed),
    peakRssMiB: Math.max(0, ...seeds.map((s) => s.peakRssMiB ?? 0)),
    rssPer10kEvents: rssPer10k(seeds),
  };
}

/** What a violation prints: the seed, how to replay it, the violations and the event log. */
export function printReplay(r: SeedResult): void {
  console.error(
    `\nfaults: seed ${r.seed}: ${r.violations.length} violation(s)${r.iamDenied > 0 ? `, ${r.iamDenied} call(s) denied by IAM` : ''}`,
  );
  for (const v of r.violations) console.error(`  ${v.invariant}: ${v.detail}`);
  for (const d of r.iamDenials) console.error(`  IAM denied: ${d}`);
  console.error(`  replay: npm run bench -- faults --seed ${r.seed} --events ${r.eventsPerSeed} --verbose`);
  console.error('  event log:');
  for (const e of r.log) console.error(`    #${e.n} t=${e.t}s ${e.what}`);
}

function addUp(records: readonly Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const record of records) for (const [k, v] of Object.entries(record)) total[k] = (total[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(total).sort(([a], [b]) => a.localeCompare(b)));
}

/**
 * The peak RSS reached by the end of each 10,000 events, in the order the seeds ran (per worker
 * process the events add up; the figure is the highest peak of any process at that point).
 */
function rssPer10k(seeds: readonly SeedSummary[]): number[] {
  const out: number[] = [];
  let events = 0;
  let next = 10_000;
  for (const s of seeds) {
    events += s.events;
    while (events >= next) {
      out.push(s.peakRssMiB ?? 0);
      next += 10_000;
    }
  }
  return out;
}
