/**
 * `npm run bench -- grow`: the grow handler against the local cloud (host steps recorded, not run).
 *
 * - API calls per grow (one alarm-triggered add-device grow of a node holding a set), with 10 and
 *   with 1000 other volumes in the account (half of them this group's growth volumes of other
 *   instances): the target is the same count, since every query is filtered server-side by the
 *   instance or by its tags.
 * - Volumes created when the same alarm event is delivered 1, 2 and 5 times (one after the other,
 *   and all at once), and when other triggers (a duplicate, an operator's request, a second alarm
 *   state) arrive while a grow is in flight: the target is 1.
 *
 * Prints one JSON line `{"bench":"grow","apiCallsPerGrow":…,"volumesPerDuplicatedEvent":…,…}`.
 */
import { benchArgs } from './args';
import { useLocalCloudEnv } from './local-env';
type Fixture = typeof import('../lambdas/grow/grow-fixture');
type Grow = { handler: (typeof import('../helpers/handlers'))['grow'] };

async function load(): Promise<{ fixture: Fixture; grow: Grow }> {
  useLocalCloudEnv();
  return {
    fixture: await import('../lambdas/grow/grow-fixture'),
    // The grow handler as its own role: every call is judged against its synthesized policy.
    grow: { handler: (await import('../helpers/handlers')).grow },
  };
}

interface Measured {
  calls: number;
  byService: Record<string, number>;
  byOperation: Record<string, number>;
  virtualSeconds: number;
  realMs: number;
}

export async function run(args: string[]): Promise<void> {
  const options = benchArgs(args, {
    bench: 'grow',
    summary: 'calls and virtual seconds of one alarm-triggered grow, with 10 and 1000 other volumes',
    options: { verbose: { type: 'flag', description: 'print the calls by operation on stderr' } },
  });
  if (!options) return;
  const { verbose } = options;
  const { fixture, grow } = await load();

  /** One alarm-triggered grow with `others` unrelated volumes in the account. */
  async function oneGrow(others: number): Promise<Measured> {
    const fx = fixture.growthFixture({}, { sets: 2 });
    const restore = fx.plugHandlers();
    try {
      for (let i = 0; i < others; i++) {
        const ours = i % 2 === 0;
        fx.cloud.ec2.seedVolume({
          availabilityZone: 'eu-west-1a',
          size: 100,
          tags: ours
            ? {
                'berth:group': fx.groupName,
                'berth:instance': `i-${(0x1000000 + i).toString(16).padStart(17, '0')}`,
                'berth:grow-state': i % 4 === 0 ? 'pending' : 'joined',
              }
            : { Name: `other-${i}`, Team: 'someone-else' },
        });
      }
      const { instanceId } = await fixture.nodeWithSet(fx);
      // A node that has been up a while (its SSM agent online), as when a disk fills.
      await fx.cloud.clock.sleep(600_000);
      const event = await fixture.alarmFires(fx, instanceId);
      fx.cloud.accounting.reset();
      const started = fx.cloud.clock.now();
      const realStart = performance.now();
      const result = await grow.handler(event);
      if (!result.grown) throw new Error(`bench grow did not grow: ${JSON.stringify(result)}`);
      const byOperation = fx.cloud.accounting.snapshot();
      const byService: Record<string, number> = {};
      for (const [key, n] of Object.entries(byOperation)) {
        const service = key.split(':')[0] ?? key;
        byService[service] = (byService[service] ?? 0) + n;
      }
      return {
        calls: fx.cloud.accounting.count(),
        byService,
        byOperation,
        virtualSeconds: Math.round((fx.cloud.clock.now() - started) / 1000),
        realMs: Math.round(performance.now() - realStart),
      };
    } finally {
      restore();
    }
  }

  /** One in-place grow (xfs, strategy expand) of a node that has been up a while. */
  async function oneExpand(): Promise<number> {
    const fx = fixture.growthFixture({ strategy: 'expand' }, { sets: 1, settings: { filesystem: 'xfs' } });
    const restore = fx.plugHandlers();
    try {
      const { instanceId } = await fixture.nodeWithSet(fx);
      await fx.cloud.clock.sleep(600_000);
      const event = await fixture.alarmFires(fx, instanceId);
      fx.cloud.accounting.reset();
      const result = await grow.handler(event);
      if (!result.grown) throw new Error(`bench expand did not grow: ${JSON.stringify(result)}`);
      return fx.cloud.accounting.count();
    } finally {
      restore();
    }
  }

  /** Volumes created for one node when its alarm event is delivered `n` times. */
  async function duplicated(n: number, concurrent: boolean): Promise<number> {
    const fx = fixture.growthFixture({}, { sets: 1 });
    const restore = fx.plugHandlers();
    try {
      const { instanceId } = await fixture.nodeWithSet(fx);
      const event = await fixture.alarmFires(fx, instanceId);
      const deliveries = Array.from({ length: n }, () => structuredClone(event));
      if (concurrent) await Promise.all(deliveries.map((e) => grow.handler(e)));
      else for (const e of deliveries) await grow.handler(e);
      return fx.cloud.accounting.count('ec2:CreateVolume') > 0 ? liveGrown(fx, instanceId) : 0;
    } finally {
      restore();
    }
  }

  function liveGrown(fx: ReturnType<Fixture['growthFixture']>, instanceId: string): number {
    return fixture.grownVolumes(fx, instanceId).filter((v) => v.state !== 'deleting').length;
  }

  /** Other triggers while a grow is in flight (after its CreateVolume, before it joined). */
  async function whileInFlight(): Promise<{ volumes: number; outcomes: string[] }> {
    const fx = fixture.growthFixture({}, { sets: 1 });
    const restore = fx.plugHandlers();
    try {
      const { instanceId } = await fixture.nodeWithSet(fx);
      const event = await fixture.alarmFires(fx, instanceId);
      fx.cloud.accounting.reset();
      const first = grow.handler(event);
      while (fx.cloud.accounting.count('ec2:AttachVolume') < 1) await fx.cloud.clock.sleep(100);
      const laterAlarm = structuredClone(event);
      (laterAlarm.detail.state as { timestamp: string }).timestamp = new Date(
        fx.cloud.clock.now(),
      ).toISOString();
      const others = await Promise.all([
        grow.handler(structuredClone(event)),
        grow.handler({ instanceId, reason: 'operator during a grow' }, { awsRequestId: 'bench-op' }),
        grow.handler(laterAlarm),
      ]);
      const firstResult = await first;
      return {
        volumes: liveGrown(fx, instanceId),
        outcomes: [firstResult, ...others].map((r) => (r.grown ? 'grown' : String(r.refused))),
      };
    } finally {
      restore();
    }
  }

  // Warm-up: the first grow of a cold start also reads the instance type's attachment limit.
  const cold = await oneGrow(0);
  const with10 = await oneGrow(10);
  const with1000 = await oneGrow(1000);
  const expandCalls = await oneExpand();
  const duplicates: Record<string, number> = {};
  for (const n of [1, 2, 5]) {
    duplicates[`sequential${n}`] = await duplicated(n, false);
    duplicates[`concurrent${n}`] = await duplicated(n, true);
  }
  const inFlight = await whileInFlight();
  const line = {
    bench: 'grow',
    apiCallsPerGrow: with10.calls,
    apiCallsPerGrowWith1000OtherVolumes: with1000.calls,
    callsIndependentOfOtherVolumes: with10.calls === with1000.calls,
    callsByService: with10.byService,
    coldStartExtraCalls: cold.calls - with10.calls,
    apiCallsPerExpand: expandCalls,
    volumesPerDuplicatedEvent: Math.max(...Object.values(duplicates)),
    duplicates,
    volumesWhileInFlight: inFlight.volumes,
    inFlightOutcomes: inFlight.outcomes,
    virtualSecondsPerGrow: with10.virtualSeconds,
    realMsPerGrow: with10.realMs,
    realMsPerGrowWith1000OtherVolumes: with1000.realMs,
  };
  if (verbose)
    console.error(JSON.stringify({ byOperation: with10.byOperation, with1000: with1000.byOperation }));
  console.log(JSON.stringify(line));
}
