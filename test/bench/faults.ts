/**
 * `npm run bench -- faults [--seeds N] [--events N] [--seed S] [--verbose]`: the fault campaign.
 *
 * Seeded random runs of lifecycle and alarm events against the local cloud (host scripts recorded,
 * not run), with throttling on 20 % of calls, random API errors on 5 %, 10 % of events delivered
 * twice, events delivered out of order (shuffled, some held back a round, some run concurrently),
 * and handlers killed after a random AWS call and then run again (as EventBridge retries a failed
 * invocation). After the reconciler has run, the invariants of test/demo/invariants.ts are checked.
 *
 * Prints one JSON line `{"bench":"faults","events":…,"seeds":…,"violations":0,…}`; a violation
 * prints its seed and the event log to replay it (`--seed S --events N --verbose`).
 */
import { HandlerKilled, type BusEvent } from '../local-cloud';
import type { ExecRequest } from '../local-cloud/executors';
import { Random } from '../local-cloud/random';
import {
  checkInvariants,
  countViolations,
  INVARIANTS,
  type InvariantName,
  type Violation,
} from '../demo/invariants';
import { handlerFor, World } from '../demo/world';

export interface CampaignOptions {
  seeds: readonly number[];
  /** Lifecycle and alarm events per seed (distinct events; duplicates and retries come on top). */
  eventsPerSeed: number;
  sets?: number;
  throttleRate?: number;
  errorRate?: number;
  duplicateRate?: number;
  /** Share of solo deliveries during which the handler is killed after a random AWS call. */
  killRate?: number;
  /** Share of host script runs that fail (a failed prepare, grow or quiesce). */
  scriptFailureRate?: number;
  /** Print each log line as it happens. */
  verbose?: boolean;
}

export interface LogEntry {
  n: number;
  /** Virtual seconds since the start of the seed's run. */
  t: number;
  what: string;
}

export interface SeedResult {
  seed: number;
  events: number;
  deliveries: number;
  duplicates: number;
  kills: number;
  failedRuns: number;
  reconciles: number;
  violations: Violation[];
  log: LogEntry[];
  apiCalls: number;
}

export interface CampaignResult {
  bench: 'faults';
  events: number;
  seeds: number;
  violations: number;
  byInvariant: Record<InvariantName, number>;
  deliveries: number;
  duplicates: number;
  kills: number;
  failedRuns: number;
  apiCalls: number;
  seconds: number;
  failedSeeds: number[];
}

interface Pending {
  event: BusEvent;
  attempt: number;
  duplicate: boolean;
  heldBack: number;
}

const MAX_ATTEMPTS = 8;

/** One seed's run. */
export async function runSeed(seed: number, options: CampaignOptions): Promise<SeedResult> {
  const random = new Random(seed * 7919 + 17);
  const world = new World({ seed, sets: options.sets ?? 6, retryDelayMs: 0 });
  const cloud = world.cloud;
  const start = cloud.clock.now();
  const log: LogEntry[] = [];
  const note = (what: string): void => {
    const entry = { n: log.length + 1, t: Math.round((cloud.clock.now() - start) / 1000), what };
    log.push(entry);
    if (options.verbose) console.error(`#${entry.n} t=${entry.t}s ${what}`);
  };
  const result: SeedResult = {
    seed,
    events: 0,
    deliveries: 0,
    duplicates: 0,
    kills: 0,
    failedRuns: 0,
    reconciles: 0,
    violations: [],
    log,
    apiCalls: 0,
  };

  // Host scripts: recorded, and a few fail as a host would (a busy mount, a full disk).
  const joined = new Set<string>(world.seededVolumeIds);
  const failRate = options.scriptFailureRate ?? 0.03;
  const recorder = cloud.ssm.recorder;
  const script = (name: string, onSuccess?: (r: ExecRequest) => void): void => {
    recorder.respond(name, (request) => {
      if (random.chance(failRate)) {
        return {
          exitCode: 1,
          stdout: `${JSON.stringify({ ok: false, action: name.replace(/\.sh$/, ''), code: 'failed', error: 'injected host failure' })}\n`,
        };
      }
      onSuccess?.(request);
      return { stdout: `${JSON.stringify({ ok: true, action: name.replace(/\.sh$/, '') })}\n` };
    });
  };
  script('prepare-node.sh');
  script('quiesce-node.sh');
  script('grow-filesystem.sh', (r) => {
    const id = r.parameters.VolumeId;
    if (id) joined.add(id);
  });

  world.seedSets();
  for (const id of world.seededVolumeIds) joined.add(id);
  world.createGroup();

  const pending: Pending[] = [];
  const collect = (): void => {
    for (const event of cloud.events.drain()) {
      if (!handlerFor(event)) continue;
      result.events++;
      pending.push({ event, attempt: 0, duplicate: false, heldBack: 0 });
      if (random.chance(options.duplicateRate ?? 0.1)) {
        result.duplicates++;
        pending.push({ event, attempt: 0, duplicate: true, heldBack: 0 });
      }
    }
  };
  const faultsOn = (): void => {
    cloud.faults.throttleRate = options.throttleRate ?? 0.2;
    cloud.faults.errorRate = options.errorRate ?? 0.05;
  };
  const faultsOff = (): void => {
    cloud.faults.throttleRate = 0;
    cloud.faults.errorRate = 0;
    cloud.faults.revive();
  };
  const describe = (p: Pending): string => {
    const name = handlerFor(p.event) ?? '?';
    const d = p.event.detail as { EC2InstanceId?: string; alarmName?: string };
    return `${name} ${d.EC2InstanceId ?? d.alarmName ?? ''} (event ${p.event.id.slice(-6)}${p.duplicate ? ', duplicate' : ''}${p.attempt > 0 ? `, attempt ${p.attempt + 1}` : ''})`;
  };

  /** Delivers a batch (concurrently when several); failed runs go back to the queue (retry). */
  const deliverBatch = async (batch: Pending[], withFaults: boolean): Promise<void> => {
    let killAt: number | undefined;
    if (withFaults && batch.length === 1 && random.chance(options.killRate ?? 0.2)) {
      killAt = 1 + random.int(40);
      cloud.faults.killAfter(killAt);
    }
    if (withFaults) faultsOn();
    const outcomes = await Promise.all(batch.map((p) => world.deliver(p.event)));
    faultsOff();
    outcomes.forEach((delivery, i) => {
      const p = batch[i];
      if (!p || !delivery) return;
      result.deliveries++;
      const killed = delivery.error instanceof HandlerKilled || isKilled(delivery.error);
      if (killed) result.kills++;
      const outcome = delivery.ok
        ? 'ok'
        : killed
          ? `killed after ${killAt ?? '?'} calls`
          : `failed: ${errorText(delivery.error)}`;
      note(`deliver ${describe(p)}${batch.length > 1 ? ` [concurrent ×${batch.length}]` : ''}: ${outcome}`);
      if (!delivery.ok) {
        result.failedRuns++;
        if (p.attempt + 1 < MAX_ATTEMPTS) pending.push({ ...p, attempt: p.attempt + 1, heldBack: 0 });
        else note(`gave up on ${describe(p)} after ${MAX_ATTEMPTS} attempts`);
      }
    });
  };

  /** One delivery round: shuffled, some held back, some concurrent. */
  const deliverRound = async (withFaults: boolean): Promise<void> => {
    collect();
    const now = pending.splice(0);
    shuffle(now, random);
    const batchable: Pending[] = [];
    for (const p of now) {
      if (withFaults && p.heldBack < 2 && random.chance(0.2))
        pending.push({ ...p, heldBack: p.heldBack + 1 });
      else batchable.push(p);
    }
    while (batchable.length > 0) {
      const size = withFaults ? 1 + random.int(Math.min(3, batchable.length)) : batchable.length;
      await deliverBatch(batchable.splice(0, size), withFaults);
      collect();
    }
  };

  // --- the run -------------------------------------------------------------------------------
  const maxInstances = (options.sets ?? 6) + 2;
  while (result.events < options.eventsPerSeed) {
    const live = world.liveInstances();
    const roll = random.next();
    if (roll < 0.3 && live.length < maxInstances) {
      const n = 1 + random.int(Math.min(3, maxInstances - live.length));
      note(`world: launch ${n} instance(s)`);
      world.launch(n);
    } else if (roll < 0.5 && live.length > 0) {
      const victim = random.pick(live);
      note(`world: terminate ${victim}`);
      world.terminate(victim);
    } else if (roll < 0.75) {
      const alarms = world.alarmNames();
      if (alarms.length > 0) {
        const alarm = random.pick(alarms);
        note(`world: disk full on ${alarm}`);
        world.forceAlarm(alarm, 'ALARM');
      }
    } else if (roll < 0.85) {
      note('world: scheduled reconcile');
      result.reconciles++;
      pending.push({
        event: world.scheduledEvent(),
        attempt: 0,
        duplicate: false,
        heldBack: 0,
      });
    } else {
      const seconds = 10 + random.int(110);
      note(`world: ${seconds} s pass`);
      await world.wait(seconds * 1000);
    }
    await deliverRound(true);
  }

  // --- settle: no more faults; deliver what is left, then the reconciler as the safety net -----
  note('settle: faults off');
  for (let i = 0; i < 20 && (pending.length > 0 || cloud.events.peek().length > 0); i++)
    await deliverRound(false);
  for (let i = 0; i < 2; i++) {
    await world.wait(120_000);
    note('settle: reconcile');
    await deliverBatch([{ event: world.scheduledEvent(), attempt: 0, duplicate: false, heldBack: 0 }], false);
    for (let j = 0; j < 20 && (pending.length > 0 || cloud.events.peek().length > 0); j++)
      await deliverRound(false);
  }
  await world.wait(120_000);

  result.violations = checkInvariants({
    cloud,
    seededVolumeIds: world.seededVolumeIds,
    createdVolumeIds: world.createdVolumeIds,
    joinedVolumeIds: joined,
    pendingActions: cloud.autoscaling.pendingActions(),
    timedOutActions: cloud.autoscaling.timedOutActions(),
  });
  result.apiCalls = cloud.accounting.count();
  world.dispose();
  return result;
}

/** Runs every seed; the result is the JSON line's content. */
export async function campaign(
  options: CampaignOptions,
  onViolation: (seed: SeedResult) => void = printReplay,
): Promise<{ result: CampaignResult; seeds: SeedResult[] }> {
  const started = performance.now();
  const seeds: SeedResult[] = [];
  for (const seed of options.seeds) {
    const r = await runSeed(seed, options);
    seeds.push(r);
    if (r.violations.length > 0) onViolation(r);
  }
  const all = seeds.flatMap((s) => s.violations);
  const sum = (f: (s: SeedResult) => number): number => seeds.reduce((a, s) => a + f(s), 0);
  return {
    seeds,
    result: {
      bench: 'faults',
      events: sum((s) => s.events),
      seeds: seeds.length,
      violations: all.length,
      byInvariant: countViolations(all),
      deliveries: sum((s) => s.deliveries),
      duplicates: sum((s) => s.duplicates),
      kills: sum((s) => s.kills),
      failedRuns: sum((s) => s.failedRuns),
      apiCalls: sum((s) => s.apiCalls),
      seconds: Math.round((performance.now() - started) / 100) / 10,
      failedSeeds: seeds.filter((s) => s.violations.length > 0).map((s) => s.seed),
    },
  };
}

/** What a violation prints: the seed, how to replay it, the violations and the event log. */
export function printReplay(r: SeedResult): void {
  console.error(`\nfaults: seed ${r.seed}: ${r.violations.length} violation(s)`);
  for (const v of r.violations) console.error(`  ${v.invariant}: ${v.detail}`);
  console.error(`  replay: npm run bench -- faults --seed ${r.seed} --events ${r.events} --verbose`);
  console.error('  event log:');
  for (const e of r.log) console.error(`    #${e.n} t=${e.t}s ${e.what}`);
}

function parse(args: readonly string[]): CampaignOptions {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const seedsCount = Number(value('--seeds') ?? 10);
  const first = Number(value('--first-seed') ?? 1);
  const single = value('--seed');
  const seeds =
    single !== undefined ? [Number(single)] : Array.from({ length: seedsCount }, (_, i) => first + i);
  const total = Number(value('--events') ?? 10_000);
  return {
    seeds,
    eventsPerSeed: single !== undefined ? total : Math.ceil(total / seeds.length),
    verbose: args.includes('--verbose'),
  };
}

export async function run(args: string[]): Promise<void> {
  const options = parse(args);
  for (const [k, v] of Object.entries(options)) {
    if (typeof v === 'number' && !Number.isFinite(v)) throw new Error(`faults: bad value for ${k}`);
  }
  const { result } = await campaign(options);
  console.log(JSON.stringify(result));
  if (result.violations > 0) process.exitCode = 1;
}

function shuffle<T>(items: T[], random: Random): void {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1);
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
}

function isKilled(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 5; depth++) {
    if (e instanceof HandlerKilled) return true;
    if (e instanceof Error && e.name === 'HandlerKilled') return true;
    if (e instanceof Error && /handler killed/.test(e.message)) return true;
    e = e instanceof Error ? e.cause : undefined;
  }
  return false;
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 200);
  return String(error).slice(0, 200);
}

export { INVARIANTS };
