/** One seed's run of the fault campaign (see test/bench/faults.ts). */
import { readFileSync } from 'node:fs';
import type { BusEvent } from '../../../local-cloud/src';
import type { ExecRequest } from '../../../local-cloud/src/executors';
import { Random } from '../../../local-cloud/src/random';
import { endBrownout, startBrownout } from '../../../local-cloud/src/zones';
import { checkInvariants } from '../../demo/invariants';
import { useLocalCloudEnv } from '../local-env';
import { DEVICE_WAIT_MS, growWithNothingMounted, missingDevice } from './host-model';
import { isKilled, killSwitch, type KillState, type PluggableClient } from './kill-switch';
import { FAULT_KINDS, type CampaignOptions, type FaultKind, type LogEntry, type SeedResult } from './types';

// The handlers (through ../demo/world) are loaded on first use, once the environment is set: their
// loggers and clients read it at import.
type WorldModule = typeof import('../../demo/world');
type RuntimeModule = typeof import('../../../lambdas/shared/runtime');
let loaded: { world: WorldModule; runtime: RuntimeModule } | undefined;

async function load(): Promise<{ world: WorldModule; runtime: RuntimeModule }> {
  useLocalCloudEnv();
  loaded ??= {
    world: await import('../../demo/world'),
    runtime: await import('../../../lambdas/shared/runtime'),
  };
  return loaded;
}

/** A Lambda function's timeout (infra/defaults.ts gives every berth function 900 s). */
const LAMBDA_TIMEOUT_MS = 900_000;

interface Pending {
  event: BusEvent;
  attempt: number;
  duplicate: boolean;
}

/**
 * EventBridge retries a failed delivery "for 24 hours and up to 185 times with an exponential back
 * off and jitter" (EventBridge User Guide, "Event retry policy and using dead-letter queues"): the
 * campaign retries up to 20 times, 10 s doubling per attempt up to 2 minutes, plus jitter.
 */
const MAX_ATTEMPTS = 20;

function retryDelayMs(attempt: number, random: Random): number {
  return (Math.min(120, 10 * 2 ** attempt) + random.int(20)) * 1000;
}

/** One seed's run. */
export async function runSeed(seed: number, options: CampaignOptions): Promise<SeedResult> {
  const cpuAtStart = process.cpuUsage();
  const random = new Random(seed * 7919 + 17);
  const { world: worldModule, runtime } = await load();
  const { World, handlerFor, AZS } = worldModule;
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
    faultsByKind: Object.fromEntries(FAULT_KINDS.map((k) => [k, 0])),
    iamDenied: 0,
    iamDenials: [],
  };
  const fault = (kind: FaultKind, n = 1): void => {
    result.faultsByKind[kind] = (result.faultsByKind[kind] ?? 0) + n;
  };
  const deletedVolumes: { volumeId: string; tags: Record<string, string>; why: string }[] = [];
  cloud.ec2.hooks.volumeDeleted = (volume, why) => {
    deletedVolumes.push({ volumeId: volume.volumeId, tags: { ...volume.tags }, why });
  };

  let faulty = true;
  // Host scripts: recorded, and a few fail as a host would (a busy mount, a full disk).
  const joined = new Set<string>(world.seededVolumeIds);
  const failRate = options.scriptFailureRate ?? 0.03;
  const recorder = cloud.ssm.recorder;
  const script = (
    name: string,
    onSuccess?: (r: ExecRequest) => void,
    onFailure?: (r: ExecRequest) => Record<string, unknown>,
    refusal?: (r: ExecRequest) => string | undefined,
    missing?: (
      r: ExecRequest,
    ) => { error: string; durationMs?: number; extra?: Record<string, unknown> } | undefined,
  ): void => {
    recorder.respond(name, (request) => {
      const refused = refusal?.(request);
      if (refused !== undefined) {
        return {
          exitCode: 3,
          stdout: `${JSON.stringify({ ok: false, action: name.replace(/\.sh$/, ''), code: 'refused', error: refused })}\n`,
        };
      }
      const absent = missing?.(request);
      if (absent !== undefined) {
        return {
          exitCode: 1,
          stdout: `${JSON.stringify({ ok: false, action: name.replace(/\.sh$/, ''), code: 'failed', error: absent.error, ...absent.extra })}\n`,
          ...(absent.durationMs !== undefined ? { durationMs: absent.durationMs } : {}),
        };
      }
      // Some runs take minutes (a slow disk, a busy host): they stay InProgress past a short deadline.
      const slow = faulty && random.chance(options.slowCommandRate ?? 0.03);
      if (slow) fault('slowCommand');
      const durationMs = slow ? (60 + random.int(480)) * 1000 : undefined;
      if (random.chance(failRate)) {
        return {
          exitCode: 1,
          stdout: `${JSON.stringify({ ok: false, action: name.replace(/\.sh$/, ''), code: 'failed', error: 'injected host failure', ...onFailure?.(request) })}\n`,
          ...(durationMs !== undefined ? { durationMs } : {}),
        };
      }
      onSuccess?.(request);
      return {
        stdout: `${JSON.stringify({ ok: true, action: name.replace(/\.sh$/, '') })}\n`,
        ...(durationMs !== undefined ? { durationMs } : {}),
      };
    });
  };
  // The fence (agent-scripts/include/common.sh): once quiesce-node succeeded on a host, its
  // prepare-node refuses. The local cloud runs one instance's scripts in their host-lock order, so
  // the responders see them in that order too.
  const quiesced = new Set<string>();
  // What each host has mounted: a prepare-node mounts its volumes from the moment it runs (it may
  // be mounting while the Lambda waits for it), a grow-filesystem adds its device, a quiesce-node
  // unmounts all. A DetachVolume of a mounted volume is a violation (volumeDetachedWhileMounted).
  const mounted = new Map<string, Set<string>>();
  const mount = (instanceId: string, ids: readonly string[]): void => {
    const held = mounted.get(instanceId) ?? new Set<string>();
    for (const id of ids) if (id) held.add(id);
    mounted.set(instanceId, held);
  };
  const detachedWhileMounted: { volumeId: string; instanceId: string; by: string }[] = [];
  // A prepare-node with a volume missing on the host fails and mounts nothing (host-model.ts).
  script(
    'prepare-node.sh',
    (r) => mount(r.instanceId, (r.parameters.VolumeIds ?? '').split(',')),
    undefined,
    (r) => (quiesced.has(r.instanceId) ? "quiesce-node released this host's set" : undefined),
    (r) => {
      const error = missingDevice(cloud, r.instanceId, (r.parameters.VolumeIds ?? '').split(','));
      return error === undefined ? undefined : { error, durationMs: DEVICE_WAIT_MS };
    },
  );
  script('quiesce-node.sh', (r) => {
    quiesced.add(r.instanceId);
    mounted.delete(r.instanceId);
  });
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
      if (id && r.parameters.Mode === 'add-device') mount(r.instanceId, [id]);
      const nodeId = world.nodeIdOf(r.instanceId);
      if (nodeId) full.delete(nodeId);
    },
    (r) =>
      r.parameters.Mode === 'add-device'
        ? { joined: r.parameters.VolumeId !== undefined && joined.has(r.parameters.VolumeId) }
        : {},
    undefined,
    // Nothing mounted on the host: the run fails and joins nothing (host-model.ts).
    (r) => growWithNothingMounted(mounted.get(r.instanceId), r.parameters, joined),
  );

  world.seedSets();
  for (const id of world.seededVolumeIds) joined.add(id);
  world.createGroup();
  // A call IAM refuses is a finding like a violation: it goes into the log with what was refused.
  const authorize = cloud.authorizer.authorize.bind(cloud.authorizer);
  cloud.authorizer.authorize = (principal, service, operation, input) => {
    if (operation === 'DetachVolume') {
      const volumeId = (input as { VolumeId?: string } | undefined)?.VolumeId ?? '';
      const holder = cloud.ec2.volume(volumeId)?.attachments.find((a) => a.state !== 'detached');
      if (holder && mounted.get(holder.instanceId)?.has(volumeId)) {
        detachedWhileMounted.push({ volumeId, instanceId: holder.instanceId, by: principal });
        note(`host model: DetachVolume ${volumeId} from ${holder.instanceId} while mounted (${principal})`);
      }
    }
    try {
      authorize(principal, service, operation, input);
    } catch (error) {
      // In full: the message names the action and the resource refused.
      const denial = `${principal} ${service}:${operation}: ${error instanceof Error ? error.message : String(error)}`;
      result.iamDenials.push(denial);
      note(`IAM denied ${denial}`);
      throw error;
    }
  };

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
    // Every invocation ends at its function's timeout; some are cut much earlier (a deadline fault:
    // the run stops mid-wait, and the retried invocation must resume).
    const shortDeadline = faulty && random.chance(options.deadlineRate ?? 0.05);
    const run = (async () => {
      await cloud.clock.sleep(wait);
      const startedAt = cloud.clock.now();
      const state: KillState = {
        after: killAfter,
        calls: 0,
        killed: false,
        cut: false,
        now: () => cloud.clock.now(),
        deadline: startedAt + (shortDeadline ? (10 + random.int(170)) * 1000 : LAMBDA_TIMEOUT_MS),
      };
      // The handler knows its function's timeout, as in Lambda; a short-deadline fault cuts it
      // earlier without warning (a crash mid-wait).
      const context = { getRemainingTimeInMillis: () => startedAt + LAMBDA_TIMEOUT_MS - cloud.clock.now() };
      const delivery = await killSwitch.run(state, () => world.deliver(p.event, context));
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
      if (killed && state.cut) fault('deadline');
      else if (killed) {
        result.kills++;
        fault('kill');
      }
      const outcome = delivery.ok
        ? `ok ${JSON.stringify(delivery.result ?? null).slice(0, 160)}`
        : killed && state.cut
          ? `cut at its deadline (${Math.round((state.deadline - startedAt) / 1000)} s)`
          : killed
            ? `killed after ${killAfter ?? '?'} calls`
            : `failed: ${errorText(delivery.error)}`;
      const took = Math.round((cloud.clock.now() - startedAt) / 1000);
      note(`deliver ${describe(p)}${held ? ' [held back]' : ''}: ${outcome} (${took} s)`);
      if (!delivery.ok) {
        result.failedRuns++;
        if (p.attempt + 1 < MAX_ATTEMPTS)
          dispatch({ ...p, attempt: p.attempt + 1 }, retryDelayMs(p.attempt, random));
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
        fault('duplicate');
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

  // New instances (launched by the world or as replacements): some agents register late or never.
  const seen = new Set<string>();
  const agents = (): void => {
    for (const id of cloud.autoscaling.instanceIds(world.groupName)) {
      if (seen.has(id)) continue;
      seen.add(id);
      if (!faulty) continue;
      if (random.chance(options.agentNeverRate ?? 0.02)) {
        cloud.ssm.agentNever(id);
        fault('agentNever');
        note(`fault: the SSM agent of ${id} never registers`);
      } else if (random.chance(options.agentLateRate ?? 0.08)) {
        const late = (60 + random.int(540)) * 1000;
        cloud.ssm.agentLate(id, late);
        fault('agentLate');
        note(`fault: the SSM agent of ${id} registers ${late / 1000} s late`);
      }
    }
  };
  let brownoutUntil = 0;
  const brownout = (): void => {
    if (cloud.faults.brownout && (cloud.clock.now() >= brownoutUntil || !faulty)) {
      note(`fault: the brownout of ${cloud.faults.brownout.zone} ends`);
      endBrownout(cloud);
    }
  };

  const flow = async (ms: number): Promise<void> => {
    const until = cloud.clock.now() + ms;
    while (cloud.clock.now() < until) {
      agents();
      brownout();
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
  cloud.ec2.stuckAttachRate = options.attachStuckRate ?? 0.02;
  const maxInstances = (options.sets ?? 6) + 2;
  while (result.events < options.eventsPerSeed) {
    const live = world.liveInstances();
    // Faults of the world, each at its rate per step.
    if (live.length > 0 && random.chance(options.agentOfflineRate ?? 0.03)) {
      const id = random.pick(live);
      const forMs = (60 + random.int(540)) * 1000;
      cloud.ssm.agentOffline(id, cloud.clock.now(), forMs);
      fault('agentOffline');
      note(`fault: the SSM agent of ${id} is offline for ${forMs / 1000} s`);
    }
    if (!cloud.faults.brownout && random.chance(options.azBrownoutRate ?? 0.01)) {
      const zone = random.pick(AZS);
      brownoutUntil = cloud.clock.now() + (120 + random.int(480)) * 1000;
      startBrownout(cloud, zone);
      fault('azBrownout');
      note(`fault: brownout of ${zone} for ${Math.round((brownoutUntil - cloud.clock.now()) / 1000)} s`);
    }
    const running = world.inService();
    if (running.length > 0 && random.chance(options.instanceStoppedRate ?? 0.02)) {
      const id = random.pick(running);
      cloud.ec2.stopInstance(id);
      fault('instanceStopped');
      note(`fault: ${id} is stopped (the group's health check replaces it)`);
    }
    const alarms = world.alarmNames();
    if (alarms.length > 0 && random.chance(options.alarmFlapRate ?? 0.03)) {
      const name = random.pick(alarms);
      const changes = cloud.cloudwatch.flap(name, 3 + random.int(7));
      fault('alarmFlap');
      note(`fault: ${name} flaps (${changes} state changes)`);
    }
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
  cloud.ec2.stuckAttachRate = 0;
  endBrownout(cloud);
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
    groupName: world.groupName,
    prepareDocument: world.settingsResolved.documents.prepareNode,
    quiesceDocument: world.settingsResolved.documents.quiesceNode,
    alarmNamePrefix: `${world.settingsResolved.alarmPrefix}${world.groupName}-`,
    deletedVolumes,
    detachedWhileMounted,
  });
  fault('throttle', cloud.faults.counts.throttle ?? 0);
  fault('error', cloud.faults.counts.error ?? 0);
  fault('attachStuck', cloud.ec2.stuckAttachments.length);
  result.peakRssMiB = peakRssMiB();
  const cpu = process.cpuUsage(cpuAtStart);
  result.cpuSeconds = Math.round((cpu.user + cpu.system) / 100_000) / 10;
  result.apiCalls = cloud.accounting.count();
  result.iamDenied = cloud.authorizer.denied;
  world.dispose();
  return result;
}

/** Peak resident set size of this process so far, in MiB (Linux `VmHWM`; else the current RSS). */
function peakRssMiB(): number {
  try {
    const status = readFileSync('/proc/self/status', 'utf8');
    const kb = /^VmHWM:\s+(\d+) kB/m.exec(status)?.[1];
    if (kb) return Math.round(Number(kb) / 1024);
  } catch {
    // not Linux
  }
  return Math.round(process.memoryUsage().rss / 1024 / 1024);
}

function errorText(error: unknown): string {
  if (error instanceof Error) return `${error.name}: ${error.message}`.slice(0, 200);
  return String(error).slice(0, 200);
}
