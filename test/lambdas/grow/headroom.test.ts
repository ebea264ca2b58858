import { DEFAULT_GROWTH, type GrowthSettings } from '../../../lambdas/shared/config';
import {
  agentSchedule,
  berthDetector,
  berthGrowSeconds,
  detectionSeconds,
  growthTiers,
  headroomWarning,
  judgeTiers,
  maxSafeMiBps,
  race,
  seedGrowSeconds,
  type Detector,
} from '../../../lambdas/domain/growth-headroom';

const growth = (over: Partial<GrowthSettings> = {}): GrowthSettings => ({ ...DEFAULT_GROWTH, ...over });
const alarm = (periodSeconds: number, datapoints: number) => ({
  periodSeconds,
  evaluationPeriods: datapoints,
  datapointsToAlarm: datapoints,
});

describe('growth headroom model', () => {
  it('flushes the agent at every sample', () => {
    expect(agentSchedule(10)).toEqual({ collectionSeconds: 10, flushSeconds: 10 });
  });

  // Worst phase: the crossing just after a sample. 1 of 1 at 60 s: next sample 60 s later, its
  // period ends 60 s after that, 5 s ingestion, next minute tick: 180 s.
  it.each([
    ['60 s, 1 of 1', berthDetector(alarm(60, 1)), 180],
    ['60 s, 2 of 2', berthDetector(alarm(60, 2)), 240],
    ['10 s, 1 of 1', berthDetector(alarm(10, 1)), 30],
    ['10 s, 2 of 2', berthDetector(alarm(10, 2)), 40],
    ['10 s with the agent default 60 s flush', { ...berthDetector(alarm(10, 1)), flushSeconds: 60 }, 80],
    ['300 s, 1 of 1 (samples every 300 s, minute ticks)', berthDetector(alarm(300, 1)), 660],
    ["the seed's 2 s df poll", { kind: 'poll', intervalSeconds: 2 } as Detector, 2],
  ])('detects a crossing within %s: %d s', (_name, detector, seconds) => {
    expect(detectionSeconds(detector, 80, 0.01)).toBe(seconds);
  });

  it.each([
    // 150 GiB at 50 %: 75 GiB = 76,800 MiB free; over 180 + 20.5 s.
    [alarm(60, 1), 150, 50, 383],
    [alarm(10, 1), 150, 50, 1520.7],
    // 1500 GiB at 90 %: 153,600 MiB free, over 240 + 20.5 s.
    [alarm(60, 2), 1500, 90, 589.6],
  ])('max safe write %j on %i GiB at %i %%: %d MiB/s', (a, totalGiB, thresholdPercent, expected) => {
    expect(maxSafeMiBps(berthDetector(a), 20.5, { totalGiB, thresholdPercent })).toBe(expected);
  });

  it('a race survives just below the max safe rate and not above it', () => {
    const detector = berthDetector(alarm(60, 1));
    const state = { totalGiB: 150, thresholdPercent: 50 };
    expect(race(detector, 20.5, state, 382).survives).toBe(true);
    expect(race(detector, 20.5, state, 384).survives).toBe(false);
  });

  it('prediction fires before the threshold for a fast writer, and buys a faster safe rate', () => {
    const state = { totalGiB: 150, thresholdPercent: 50 };
    const plain = berthDetector(alarm(60, 1));
    const predictive = berthDetector(alarm(60, 1), 600);
    // 300 MiB/s on 150 GiB: 0.2 %/s, 256 s from 50 % to full; the projection (< 600 s) breaches before 50 %.
    expect(detectionSeconds(predictive, 50, (100 * 300) / (150 * 1024))).toBeLessThan(0);
    expect(detectionSeconds(plain, 50, (100 * 300) / (150 * 1024))).toBe(180);
    expect(maxSafeMiBps(predictive, 20.5, state)).toBeGreaterThan(maxSafeMiBps(plain, 20.5, state) * 1.5);
  });

  it('a slow writer is caught by the threshold alarm whether or not prediction is on', () => {
    const rate = (100 * 1) / (150 * 1024);
    expect(detectionSeconds(berthDetector(alarm(60, 1), 600), 50, rate)).toBe(180);
  });

  it("walks the policy's tiers from the first volume until a grow is no longer allowed", () => {
    const tiers = growthTiers(DEFAULT_GROWTH, 150);
    expect(tiers.map((t) => [t.devices, t.totalGiB, t.thresholdPercent, t.provisionedMiBps])).toEqual([
      [1, 150, 50, 125],
      [2, 300, 50, 250],
      [3, 450, 50, 375],
      [4, 600, 80, 500],
      [5, 900, 80, 625],
      [6, 1200, 80, 750],
      [7, 1500, 85, 875],
      [8, 2500, 85, 1000],
      [9, 3500, 85, 1125],
      [10, 4500, 85, 1250],
      [11, 5500, 85, 1375],
      [12, 7000, 85, 1500],
    ]);
  });

  it('the defaults keep up with the provisioned throughput at every tier; the seed defaults (2 of 2, 90 %) do not', () => {
    const grow = berthGrowSeconds();
    expect(
      judgeTiers(berthDetector(DEFAULT_GROWTH.alarm), grow, growthTiers(DEFAULT_GROWTH, 150)).every(
        (v) => v.survives,
      ),
    ).toBe(true);
    const seedish = growth({ alarm: alarm(60, 2), maxThresholdPercent: 90 });
    const failing = judgeTiers(berthDetector(seedish.alarm), grow, growthTiers(seedish, 150)).filter(
      (v) => !v.survives,
    );
    expect(failing.map((v) => v.devices)).toEqual([4, 7, 8]);
  });

  it("the seed's grow: CLI calls, the 15 s waiter, sleep 1, the device, device add", () => {
    expect(seedGrowSeconds(0.5)).toBeCloseTo(6 * 0.7 + 15 + 1 + 5 + 0.5);
  });

  it.each([
    // A 100 GiB volume at 90 % with a 60 s period: 10 GiB last 82 s at 125 MiB/s; a 10 s period fixes it.
    [growth({ initialThresholdPercent: 90, maxThresholdPercent: 95 }), 100, 'growth.alarm.periodSeconds', 10],
    // The defaults on a 20 GiB first volume: 10 GiB free at 50 %.
    [DEFAULT_GROWTH, 20, 'growth.alarm.periodSeconds', 10],
    // Already at 10 s and still too full: a lower threshold (20 GiB at 63 %: 7.4 GiB last 61 s at 125 MiB/s, over 30 + 29 s).
    [
      growth({ initialThresholdPercent: 99, maxThresholdPercent: 99, alarm: alarm(10, 1) }),
      20,
      'growth.initialThresholdPercent',
      63,
    ],
  ])('warns and names the faster setting (%#)', (g, firstGiB, field, value) => {
    expect(headroomWarning(g, firstGiB)?.fix).toEqual({ field, value });
  });

  it('does not warn for the defaults on 150 GiB', () => {
    expect(headroomWarning(DEFAULT_GROWTH, 150)).toBeUndefined();
  });
});
