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
import { AsyncLocalStorage } from 'node:async_hooks';
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
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
// The handlers (through ../demo/world) are loaded on first use, once the environment is set: their
// loggers and clients read it at import.
type WorldModule = typeof import('../demo/world');
type RuntimeModule = typeof import('../../lambdas/shared/runtime');
let loaded: { world: WorldModule; runtime: RuntimeModule } | undefined;

async function load(): Promise<{ world: WorldModule; runtime: RuntimeModule }> {
  process.env.AWS_REGION ??= 'eu-west-1';
  process.env.AWS_ACCESS_KEY_ID ??= 'AKIALOCALCLOUD';
  process.env.AWS_SECRET_ACCESS_KEY ??= 'local-cloud-secret';
  process.env.POWERTOOLS_LOG_LEVEL ??= 'SILENT';
  process.env.POWERTOOLS_METRICS_DISABLED ??= 'true';
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  loaded ??= { world: await import('../demo/world'), runtime: await import('../../lambdas/shared/runtime') };
  return loaded;
}

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
  /** The run's target (replay with the same figure). */
  eventsPerSeed: number;
  events: number;
  /** launch / terminate / alarm events. */
  /** Handler results of the runs that finished (`launch:node`, `launch:abandoned`, `grow:grown`, …). */
  outcomes: Record<string, number>;
  eventsByKind: Record<string, number>;
  deliveries: number;
  duplicates: number;
  kills: number;
  failedRuns: number;
  reconciles: number;
  violations: Violation[];
  log: LogEntry[];
  apiCalls: number;
  /** Handler calls IAM refused (the synthesized policies): must be 0. */
  iamDenied: number;
}

export interface CampaignResult {
  bench: 'faults';
  events: number;
  outcomes: Record<string, number>;
  eventsByKind: Record<string, number>;
  seeds: number;
  violations: number;
  byInvariant: Record<InvariantName, number>;
  deliveries: number;
  duplicates: number;
  kills: number;
  failedRuns: number;
  reconciles: number;
  apiCalls: number;
  /** Handler calls IAM refused (the synthesized policies): must be 0. */
  iamDenied: number;
  seconds: number;
  failedSeeds: number[];
}

interface Pending {
  event: BusEvent;
  attempt: number;
  duplicate: boolean;
}

const MAX_ATTEMPTS = 8;

interface KillState {
  after: number;
  calls: number;
  killed: boolean;
}

/**
 * Kills one handler invocation after `after` AWS calls that took effect, whatever else runs
 * concurrently: a middleware on the handlers' clients counts the calls of the invocation it runs
 * in (AsyncLocalStorage follows the invocation through its awaits); the call that reaches the
 * count takes effect but its answer is lost, and every later call of that invocation fails.
 */
class KillSwitch {
  private readonly store = new AsyncLocalStorage<KillState | undefined>();
  private readonly installed = new WeakSet<object>();

  install(clients: Record<string, PluggableClient>): void {
    for (const client of Object.values(clients)) {
      if (this.installed.has(client)) continue;
      this.installed.add(client);
      client.middlewareStack.add(
        (next, context) => async (args) => {
          const state = this.store.getStore();
          const name = (context.commandName ?? '').replace(/Command$/, '');
          if (state?.killed) throw new HandlerKilled(name);
          const output = await next(args);
          if (state && ++state.calls >= state.after) {
            state.killed = true;
            throw new HandlerKilled(`${name} (after it took effect)`);
          }
          return output;
        },
        { step: 'initialize', priority: 'high', name: 'berthFaultsKillSwitch', override: true },
      );
    }
  }

  run<T>(after: number | undefined, body: () => Promise<T>): Promise<T> {
    return this.store.run(after === undefined ? undefined : { after, calls: 0, killed: false }, body);
  }
}

type PluggableClient = {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: { commandName?: string },
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'initialize'; priority: 'high'; name: string; override: boolean },
    ): void;
  };
};

const killSwitch = new KillSwitch();

/** One seed's run. */
export async function runSeed(seed: number, options: CampaignOptions): Promise<SeedResult> {
  const random = new Random(seed * 7919 + 17);
  const { world: worldModule, runtime } = await load();
  const { World, handlerFor } = worldModule;
  const world = new World({ seed, sets: options.sets ?? 6, retryDelayMs: 0 });
  killSwitch.install(runtime.clients as unknown as Record<string, PluggableClient>);
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
    eventsPerSeed: options.eventsPerSeed,
    events: 0,
    eventsByKind: {},
    outcomes: {},
    deliveries: 0,
    duplicates: 0,
    kills: 0,
    failedRuns: 0,
    reconciles: 0,
    violations: [],
    log,
    apiCalls: 0,
    iamDenied: 0,
  };

  // Host scripts: recorded, and a few fail as a host would (a busy mount, a full disk).
  const joined = new Set<string>(world.seededVolumeIds);
  const failRate = options.scriptFailureRate ?? 0.03;
  const recorder = cloud.ssm.recorder;
  const script = (
    name: string,
    onSuccess?: (r: ExecRequest) => void,
    onFailure?: (r: ExecRequest) => Record<string, unknown>,
  ): void => {
    recorder.respond(name, (request) => {
      if (random.chance(failRate)) {
        return {
          exitCode: 1,
          stdout: `${JSON.stringify({ ok: false, action: name.replace(/\.sh$/, ''), code: 'failed', error: 'injected host failure', ...onFailure?.(request) })}\n`,
        };
      }
      onSuccess?.(request);
      return { stdout: `${JSON.stringify({ ok: true, action: name.replace(/\.sh$/, '') })}\n` };
    });
  };
  script('prepare-node.sh');
  script('quiesce-node.sh');
  // Disks that are full, by NodeID (the filesystem follows its set): the simulated CloudWatch agent
  // publishes 95 % for them, 10 % otherwise; a grow that joins a volume relieves the disk.
  const full = new Set<string>();
  // A failed add-device says whether the device is in the filesystem, as grow-filesystem.sh does
  // on every failure after it looked at the device (a full disk, a busy mount): the injected
  // failure happens instead of the add, so the device is a member only if an earlier run added it.
  script(
    'grow-filesystem.sh',
    (r) => {
      const id = r.parameters.VolumeId;
      if (id) joined.add(id);
      const nodeId = world.nodeIdOf(r.instanceId);
      if (nodeId) full.delete(nodeId);
    },
    (r) =>
      r.parameters.Mode === 'add-device'
        ? { joined: r.parameters.VolumeId !== undefined && joined.has(r.parameters.VolumeId) }
        : {},
  );

  world.seedSets();
  for (const id of world.seededVolumeIds) joined.add(id);
  world.createGroup();

  let faulty = true;
  const inflight = new Set<Promise<void>>();
  const describe = (p: Pending): string => {
    const name = handlerFor(p.event) ?? '?';
    const d = p.event.detail as { EC2InstanceId?: string; alarmName?: string };
    return `${name} ${d.EC2InstanceId ?? d.alarmName ?? ''} (event ${p.event.id.slice(-6)}${p.duplicate ? ', duplicate' : ''}${p.attempt > 0 ? `, attempt ${p.attempt + 1}` : ''})`;
  };

  /**
   * Delivers one event as EventBridge and Lambda do: after a delay (a few seconds, or up to two
   * minutes for the 20 % held back: events arrive out of order), in its own invocation running
   * concurrently with all others. Some invocations are killed after a random number of AWS calls
   * that took effect; a failed or killed invocation is delivered again later (EventBridge retries).
   */
  const dispatch = (p: Pending, delayMs?: number): void => {
    const held = faulty && random.chance(0.2);
    const wait = delayMs ?? (faulty ? (held ? 20 + random.int(100) : random.int(20)) * 1000 : 0);
    const killAfter = faulty && random.chance(options.killRate ?? 0.2) ? 1 + random.int(40) : undefined;
    const run = (async () => {
      await cloud.clock.sleep(wait);
      const startedAt = cloud.clock.now();
      const delivery = await killSwitch.run(killAfter, () => world.deliver(p.event));
      if (!delivery) return;
      result.deliveries++;
      const r = delivery.result as { result?: unknown; refused?: unknown; grown?: unknown } | undefined;
      const what =
        typeof r?.result === 'string'
          ? r.result
          : typeof r?.refused === 'string'
            ? r.refused
            : r?.grown
              ? 'grown'
              : undefined;
      if (delivery.ok && what) {
        const key = `${delivery.handler}:${what}`;
        result.outcomes[key] = (result.outcomes[key] ?? 0) + 1;
      }
      const killed = isKilled(delivery.error);
      if (killed) result.kills++;
      const outcome = delivery.ok
        ? `ok ${JSON.stringify(delivery.result ?? null).slice(0, 160)}`
        : killed
          ? `killed after ${killAfter ?? '?'} calls`
          : `failed: ${errorText(delivery.error)}`;
      const took = Math.round((cloud.clock.now() - startedAt) / 1000);
      note(`deliver ${describe(p)}${held ? ' [held back]' : ''}: ${outcome} (${took} s)`);
      if (!delivery.ok) {
        result.failedRuns++;
        if (p.attempt + 1 < MAX_ATTEMPTS)
          dispatch({ ...p, attempt: p.attempt + 1 }, (10 + random.int(50)) * 1000);
        else note(`gave up on ${describe(p)} after ${MAX_ATTEMPTS} attempts`);
      }
    })();
    inflight.add(run);
    void run.finally(() => inflight.delete(run));
  };

  /** Takes the bus's events and dispatches them (10 % twice). */
  const collect = (): void => {
    for (const event of cloud.events.drain()) {
      if (!handlerFor(event)) continue;
      result.events++;
      const kind = handlerFor(event) === 'grow' ? 'alarm' : (handlerFor(event) ?? 'other');
      result.eventsByKind[kind] = (result.eventsByKind[kind] ?? 0) + 1;
      dispatch({ event, attempt: 0, duplicate: false });
      if (faulty && random.chance(options.duplicateRate ?? 0.1)) {
        result.duplicates++;
        dispatch({ event, attempt: 0, duplicate: true });
      }
    }
  };

  /** Lets `ms` of virtual time pass while events flow (the bus is read every 5 s). */
  let agentAt = 0;
  /** The CloudWatch agent on every instance with a disk alarm: one disk_used_percent per minute. */
  const agent = (): void => {
    if (cloud.clock.now() - agentAt < 60_000) return;
    agentAt = cloud.clock.now();
    for (const alarm of world.alarmNames()) {
      const instanceId = alarm.slice(alarm.lastIndexOf('-i-') + 1);
      const nodeId = world.nodeIdOf(instanceId);
      world.putDiskUsedPercentNow(instanceId, nodeId && full.has(nodeId) ? 95 : 10);
    }
  };

  const flow = async (ms: number): Promise<void> => {
    const until = cloud.clock.now() + ms;
    while (cloud.clock.now() < until) {
      agent();
      collect();
      await cloud.clock.sleep(Math.min(5000, until - cloud.clock.now()));
    }
    collect();
  };

  /** Until nothing is in flight and the bus is empty (bounded). */
  const drainAll = async (): Promise<void> => {
    for (let i = 0; i < 10_000 && (inflight.size > 0 || cloud.events.peek().length > 0); i++)
      await flow(2000);
  };

  // --- the run: the world acts every few seconds to minutes while events flow -----------------
  cloud.faults.throttleRate = options.throttleRate ?? 0.2;
  cloud.faults.errorRate = options.errorRate ?? 0.05;
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
      const scaleIn = live.length > (options.sets ?? 6) && random.chance(0.5);
      note(`world: terminate ${victim}${scaleIn ? ' (scale in)' : ' (replaced)'}`);
      world.terminate(victim, scaleIn);
    } else if (roll < 0.75) {
      const nodes = world.sets.map((set) => set.nodeId).filter((id) => !full.has(id) && world.holder(id));
      if (nodes.length > 0) {
        const nodeId = random.pick(nodes);
        note(`world: the disk of ${nodeId} (on ${world.holder(nodeId) ?? '?'}) fills up`);
        full.add(nodeId);
      }
    } else if (roll < 0.85) {
      note('world: scheduled reconcile');
      result.reconciles++;
      dispatch({ event: world.scheduledEvent(), attempt: 0, duplicate: false });
    }
    await flow((5 + random.int(60)) * 1000);
  }

  // --- settle: no more faults; deliver what is left, then the reconciler as the safety net -----
  note('settle: faults off');
  faulty = false;
  cloud.faults.throttleRate = 0;
  cloud.faults.errorRate = 0;
  await drainAll();
  // The reconciler every 5 minutes for 45 minutes (longer than a grow takes to count as abandoned),
  // while the agent keeps publishing: a full disk whose grow died fires its alarm again.
  for (let i = 0; i < 9; i++) {
    note('settle: scheduled reconcile');
    dispatch({ event: world.scheduledEvent(), attempt: 0, duplicate: false });
    await flow(300_000);
  }
  await drainAll();
  note(`settle: done; disks still full: ${[...full].join(',') || 'none'}`);

  result.violations = checkInvariants({
    cloud,
    seededVolumeIds: world.seededVolumeIds,
    createdVolumeIds: world.createdVolumeIds,
    joinedVolumeIds: joined,
    pendingActions: cloud.autoscaling.pendingActions(),
    timedOutActions: cloud.autoscaling.timedOutActions(),
  });
  result.apiCalls = cloud.accounting.count();
  result.iamDenied = cloud.authorizer.denied;
  world.dispose();
  return result;
}

/** What the JSON line adds up, per seed. */
type SeedSummary = Omit<SeedResult, 'log' | 'violations'> & { violations: Violation[] };

function summary(r: SeedResult): SeedSummary {
  const { log: _log, ...rest } = r;
  return rest;
}

function summarize(seeds: readonly SeedSummary[], elapsedMs: number): CampaignResult {
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
    iamDenied: sum((s) => s.iamDenied ?? 0),
    seconds: Math.round(elapsedMs / 100) / 10,
    failedSeeds: seeds.filter((s) => s.violations.length > 0).map((s) => s.seed),
  };
}

/** Runs every seed in this process; the result is the JSON line's content. */
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
  return { seeds, result: summarize(seeds, performance.now() - started) };
}

/** What a violation prints: the seed, how to replay it, the violations and the event log. */
export function printReplay(r: SeedResult): void {
  console.error(`\nfaults: seed ${r.seed}: ${r.violations.length} violation(s)`);
  for (const v of r.violations) console.error(`  ${v.invariant}: ${v.detail}`);
  console.error(`  replay: npm run bench -- faults --seed ${r.seed} --events ${r.eventsPerSeed} --verbose`);
  console.error('  event log:');
  for (const e of r.log) console.error(`    #${e.n} t=${e.t}s ${e.what}`);
}

interface Cli extends CampaignOptions {
  workers: number;
  /** Internal: run these seeds and print one JSON line per seed (a worker of the parent run). */
  worker: boolean;
}

const USAGE =
  'usage: npm run bench -- faults [--events N (10000)] [--seeds N (10)] [--first-seed S (1)] [--workers N (2)]\n' +
  '       npm run bench -- faults --seed S --events N --verbose   (replay one seed with its event log)';

function parse(args: readonly string[]): Cli {
  const value = (name: string): string | undefined => {
    const i = args.indexOf(name);
    return i >= 0 ? args[i + 1] : undefined;
  };
  const int = (name: string, fallback: number): number => {
    const raw = value(name);
    const n = raw === undefined ? fallback : Number(raw);
    if (!Number.isInteger(n) || n < 0)
      throw new Error(`faults: ${name} needs a whole number (got ${raw})\n${USAGE}`);
    return n;
  };
  const single = value('--seed') !== undefined ? int('--seed', 1) : undefined;
  const list = value('--seed-list');
  const seeds =
    list !== undefined
      ? list.split(',').map(Number)
      : single !== undefined
        ? [single]
        : Array.from({ length: int('--seeds', 10) }, (_, i) => int('--first-seed', 1) + i);
  const total = int('--events', 10_000);
  return {
    seeds,
    eventsPerSeed:
      single !== undefined || list !== undefined ? total : Math.ceil(total / Math.max(1, seeds.length)),
    verbose: args.includes('--verbose'),
    workers: single !== undefined ? 1 : Math.max(1, int('--workers', 2)),
    worker: list !== undefined,
  };
}

/** Runs the seeds in `workers` child processes (one core each) and adds up their results. */
async function inWorkers(options: Cli): Promise<CampaignResult> {
  const started = performance.now();
  const groups: number[][] = Array.from(
    { length: Math.min(options.workers, options.seeds.length) },
    () => [],
  );
  options.seeds.forEach((seed, i) => groups[i % groups.length]?.push(seed));
  const bench = resolve(__dirname, 'index.ts');
  const seeds: SeedSummary[] = [];
  await Promise.all(
    groups.map(
      (group) =>
        new Promise<void>((done, failed) => {
          const child = spawn(
            process.execPath,
            [
              ...process.execArgv,
              bench,
              'faults',
              '--seed-list',
              group.join(','),
              '--events',
              String(options.eventsPerSeed),
            ],
            { stdio: ['ignore', 'pipe', 'inherit'] },
          );
          let out = '';
          child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
          child.on('error', failed);
          child.on('close', (code) => {
            const lines = out.split('\n').filter((l) => l.startsWith('{'));
            for (const line of lines) seeds.push(JSON.parse(line) as SeedSummary);
            if (lines.length === group.length) done();
            else
              failed(
                new Error(
                  `faults worker for seeds ${group.join(',')} exited ${code} with ${lines.length} results`,
                ),
              );
          });
        }),
    ),
  );
  return summarize(seeds, performance.now() - started);
}

export async function run(args: string[]): Promise<void> {
  const options = parse(args);
  if (args.includes('--help')) {
    console.log(USAGE);
    return;
  }
  let result: CampaignResult;
  if (options.worker) {
    // A worker: one JSON line per seed for the parent (violations print their replay on stderr).
    for (const seed of options.seeds) {
      const r = await runSeed(seed, options);
      if (r.violations.length > 0) printReplay(r);
      console.log(JSON.stringify(summary(r)));
    }
    return;
  }
  if (options.workers > 1 && options.seeds.length > 1) result = await inWorkers(options);
  else result = (await campaign(options)).result;
  console.log(JSON.stringify(result));
  if (result.violations > 0) process.exitCode = 1;
}

function addUp(records: readonly Record<string, number>[]): Record<string, number> {
  const total: Record<string, number> = {};
  for (const record of records) for (const [k, v] of Object.entries(record)) total[k] = (total[k] ?? 0) + v;
  return Object.fromEntries(Object.entries(total).sort(([a], [b]) => a.localeCompare(b)));
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
