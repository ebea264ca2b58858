/**
 * `npm run bench -- growth-race [--level 0.5] [--no-host] [--first-gib 150]`: growth that outruns
 * the writer. A node fills at a steady rate; when does new capacity land after the filesystem
 * crosses its threshold, and what is the fastest steady write that never reaches 100 % from there?
 *
 * Virtual time (lambdas/grow/headroom.ts, each latency a named constant with its source): the
 * CloudWatch agent's collection and flush, the alarm period, datapoints and evaluation ticks,
 * EventBridge, the Lambda start. Measured in this run:
 * - the grow handler from the alarm event to its SendCommand, against the local cloud with
 *   CreateVolume → `available` and attach set to the model's latencies (its own waits and polls
 *   included; each API call costs API_CALL_SECONDS on top);
 * - the host step: the real agent-scripts/grow-filesystem.sh (berth) and `btrfs device add` (the
 *   seed; its capacity lands there, `balance -m` follows) on loop devices with `--level` GiB of
 *   small files (test/bench/grow-host.ts, once for all configurations). `--no-host` uses the
 *   model's HOST_STEP_SECONDS instead.
 *
 * One JSON line per configuration: berth's defaults (60 s), the seed's alarm settings on berth
 * (2 of 2, 90 %), the 10 s high-resolution period, each with prediction on, and the seed's
 * algorithm (2 s `df` poll, create, attach, `device add` + `balance -m`). secondsToCapacity and
 * maxSafeMiBps are at the first tier (a `--first-gib` volume at its threshold, a writer at the
 * volumes' provisioned throughput); `tiers` has every size tier the policy grows through.
 */
import { DEFAULT_GROWTH, type GrowthSettings } from '../../lambdas/shared/config';
import {
  API_CALL_SECONDS,
  EVENTBRIDGE_DELIVERY_SECONDS,
  HOST_STEP_SECONDS,
  LAMBDA_START_SECONDS,
  SSM_DELIVERY_SECONDS,
  ATTACH_VOLUME_SECONDS,
  CREATE_VOLUME_SECONDS,
  berthDetector,
  detectionSeconds,
  growthTiers,
  judgeTiers,
  race,
  seedGrowSeconds,
  DEFAULT_PREDICTIVE_SECONDS,
  type Detector,
} from '../../lambdas/domain/growth-headroom';
import { benchArgs } from './args';
import { useLocalCloudEnv } from './local-env';

type Fixture = typeof import('../lambdas/grow/grow-fixture');
type Handlers = typeof import('../helpers/handlers');

const round = (value: number, digits = 1): number => Number(value.toFixed(digits));

/** The grow handler, alarm event to SendCommand, in virtual seconds (plus its calls' cost). */
async function handlerToCommand(): Promise<{ seconds: number; calls: number }> {
  useLocalCloudEnv();
  const fixture: Fixture = await import('../lambdas/grow/grow-fixture');
  // The grow handler as its own role (the local cloud judges each call against its policy).
  const { grow }: Handlers = await import('../helpers/handlers');
  const fx = fixture.growthFixture({}, { sets: 1 });
  const restore = fx.plugHandlers();
  try {
    fx.cloud.ec2.timing.createVolumeMs = CREATE_VOLUME_SECONDS * 1000;
    fx.cloud.ec2.timing.attachMs = ATTACH_VOLUME_SECONDS * 1000;
    const { instanceId } = await fixture.nodeWithSet(fx);
    await fx.cloud.clock.sleep(600_000);
    const event = await fixture.alarmFires(fx, instanceId);
    fx.cloud.accounting.reset();
    const started = fx.cloud.clock.now();
    const done = grow(event);
    let sentAt: number | undefined;
    let calls = 0;
    const watch = (async () => {
      while (fx.cloud.accounting.count('ssm:SendCommand') < 1) await fx.cloud.clock.sleep(100);
      sentAt = fx.cloud.clock.now();
      calls = fx.cloud.accounting.count();
    })();
    const result = await done;
    await watch;
    if (!result.grown || sentAt === undefined)
      throw new Error(`growth-race: the grow did not grow: ${JSON.stringify(result)}`);
    return { seconds: (sentAt - started) / 1000 + calls * API_CALL_SECONDS, calls };
  } finally {
    restore();
  }
}

/** Host steps on loop devices (berth's grow-filesystem.sh, the seed's device add and balance). */
async function hostSteps(
  levelGiB: number,
): Promise<{ berth: number; seedAdd: number; seedBalance: number; measured: boolean; usedMiB?: number }> {
  const { measureLevel } = await import('./grow-host');
  const line = measureLevel(levelGiB, { levelsGiB: [levelGiB], fillPercent: 90, metadata: 'dup' });
  return {
    berth: line.berthSeconds,
    seedAdd: line.seedAddSeconds as number,
    seedBalance: (line.seedBalanceSeconds as number | null) ?? 0,
    measured: true,
    usedMiB: line.usedMiB,
  };
}

interface Config {
  name: string;
  growth: GrowthSettings;
  detector: Detector;
  growSeconds: number;
}

export async function run(args: string[]): Promise<void> {
  const options = benchArgs(args, {
    bench: 'growth-race',
    summary:
      'berth against the seed: seconds from a full disk to a grown filesystem, and what a burst fills meanwhile',
    options: {
      level: {
        type: 'number',
        default: 0.5,
        above: 0,
        description: 'GiB of small files on the filesystem the host steps grow',
      },
      'first-gib': {
        type: 'number',
        default: DEFAULT_GROWTH.minVolumeGiB,
        above: 0,
        description: 'size of the first grown volume in GiB',
      },
      'no-host': {
        type: 'flag',
        description: 'skip the loop-device host steps (use the fixed host step figure)',
      },
    },
  });
  if (!options) return;
  const levelGiB = options.level;
  const firstGiB = options['first-gib'];
  const handler = await handlerToCommand();
  const host = options['no-host']
    ? { berth: HOST_STEP_SECONDS, seedAdd: HOST_STEP_SECONDS, seedBalance: 0, measured: false }
    : await hostSteps(levelGiB);
  const berthGrow =
    EVENTBRIDGE_DELIVERY_SECONDS + LAMBDA_START_SECONDS + handler.seconds + SSM_DELIVERY_SECONDS + host.berth;
  const seedGrow = seedGrowSeconds(host.seedAdd);

  const withAlarm = (over: Partial<GrowthSettings['alarm']>, extra: Partial<GrowthSettings> = {}) => ({
    ...DEFAULT_GROWTH,
    ...extra,
    alarm: { ...DEFAULT_GROWTH.alarm, ...over },
  });
  const seedSettings = withAlarm({ evaluationPeriods: 2, datapointsToAlarm: 2 }, { maxThresholdPercent: 90 });
  const tenSeconds = withAlarm({ periodSeconds: 10 });
  // The seed's own thresholds (calc_threshold: 50/80/90) and sizes (calc_new_size: berth's tiers).
  const seed: Config = {
    name: 'seed-2s-poll',
    growth: { ...DEFAULT_GROWTH, maxThresholdPercent: 90 },
    detector: { kind: 'poll', intervalSeconds: 2 },
    growSeconds: seedGrow,
  };
  const configs: Config[] = [
    {
      name: 'berth-60s',
      growth: DEFAULT_GROWTH,
      detector: berthDetector(DEFAULT_GROWTH.alarm),
      growSeconds: berthGrow,
    },
    {
      name: 'berth-60s-seed-thresholds-2of2',
      growth: seedSettings,
      detector: berthDetector(seedSettings.alarm),
      growSeconds: berthGrow,
    },
    {
      name: 'berth-60s-predictive',
      growth: DEFAULT_GROWTH,
      detector: berthDetector(DEFAULT_GROWTH.alarm, DEFAULT_PREDICTIVE_SECONDS),
      growSeconds: berthGrow,
    },
    {
      name: 'berth-10s',
      growth: tenSeconds,
      detector: berthDetector(tenSeconds.alarm),
      growSeconds: berthGrow,
    },
    {
      name: 'berth-10s-predictive',
      growth: tenSeconds,
      detector: berthDetector(tenSeconds.alarm, DEFAULT_PREDICTIVE_SECONDS),
      growSeconds: berthGrow,
    },
    seed,
  ];
  const seedVerdicts = judgeTiers(seed.detector, seed.growSeconds, growthTiers(seed.growth, firstGiB));

  for (const config of configs) {
    const tiers = growthTiers(config.growth, firstGiB);
    const verdicts = judgeTiers(config.detector, config.growSeconds, tiers);
    const first = verdicts[0];
    if (!first) throw new Error('growth-race: no tier');
    const firstRace = race(config.detector, config.growSeconds, first, first.provisionedMiBps);
    const percentPerSecond = (100 * first.provisionedMiBps) / (first.totalGiB * 1024);
    const worst = verdicts.reduce((a, b) =>
      b.maxSafeMiBps / b.provisionedMiBps < a.maxSafeMiBps / a.provisionedMiBps ? b : a,
    );
    const line = {
      bench: 'growth-race',
      config: config.name,
      secondsToCapacity: round(firstRace.secondsToCapacity),
      maxSafeMiBps: first.maxSafeMiBps,
      firstTier: {
        devices: first.devices,
        totalGiB: first.totalGiB,
        thresholdPercent: first.thresholdPercent,
        writerMiBps: first.provisionedMiBps,
      },
      detectionSeconds: round(detectionSeconds(config.detector, first.thresholdPercent, percentPerSecond)),
      growSeconds: round(config.growSeconds),
      survivesProvisionedAtEveryTier: verdicts.every((v) => v.survives),
      worstTier: {
        devices: worst.devices,
        totalGiB: worst.totalGiB,
        thresholdPercent: worst.thresholdPercent,
        maxSafeMiBps: worst.maxSafeMiBps,
        provisionedMiBps: worst.provisionedMiBps,
      },
      atLeastSeedAtEveryTier: verdicts.every(
        (v, i) => v.maxSafeMiBps >= (seedVerdicts[i]?.maxSafeMiBps ?? Infinity),
      ),
      tiers: verdicts.map((v) => [
        v.devices,
        v.totalGiB,
        v.thresholdPercent,
        v.maxSafeMiBps,
        v.provisionedMiBps,
      ]),
      ...(config.detector.kind === 'alarm'
        ? {
            periodSeconds: config.growth.alarm.periodSeconds,
            datapointsToAlarm: `${config.growth.alarm.datapointsToAlarm} of ${config.growth.alarm.evaluationPeriods}`,
            predictiveSeconds: config.detector.predictiveSeconds ?? null,
            handlerToCommandSeconds: round(handler.seconds),
            handlerCallsToCommand: handler.calls,
            hostStepSeconds: host.berth,
          }
        : { hostStepSeconds: host.seedAdd, seedBalanceSeconds: host.seedBalance }),
      hostMeasured: host.measured,
      ...(host.measured ? { hostLevelGiB: levelGiB } : {}),
    };
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
}
