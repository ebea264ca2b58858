import {
  decideAddDevice,
  decideExpand,
  expandBlocked,
  expandTarget,
  nextVolumeGiB,
  thresholdFor,
  type GrowthState,
} from '../../../lambdas/domain/growth-policy';
import { DEFAULT_GROWTH, resolveSettings, type GrowthSettings } from '../../../lambdas/shared/config';

const NOW = 1_800_000_000_000;

function growth(overrides: Parameters<typeof resolveSettings>[0]['growth'] = {}): GrowthSettings {
  const settings = resolveSettings({ groupName: 'g', growth: overrides });
  if (!settings.growth) throw new Error('growth missing');
  return settings.growth;
}

/** A filesystem of `sizes` volumes (GiB). */
function state(sizes: number[], extra: Partial<GrowthState> = {}): GrowthState {
  return {
    members: sizes.map((sizeGiB, i) => ({ volumeId: `vol-${i}`, sizeGiB, ordinal: i })),
    freeAttachmentSlots: 20,
    now: NOW,
    ...extra,
  };
}

describe('the growth policy', () => {
  describe('keeps the seed defaults', () => {
    it('uses amazon-ebs-autoscale install.sh limits', () => {
      // Prepare / Act
      const g = DEFAULT_GROWTH;
      // Assess
      expect({
        min: g.minVolumeGiB,
        max: g.maxVolumeGiB,
        count: g.maxVolumes,
        total: g.maxTotalGiB,
        threshold: g.initialThresholdPercent,
        type: g.volumeType,
        encrypted: g.encrypted,
      }).toEqual({
        min: 150,
        max: 1500,
        count: 16,
        total: 8000,
        threshold: 50,
        type: 'gp3',
        encrypted: true,
      });
    });
  });

  describe("raises the threshold with the device count like the seed's calc_threshold", () => {
    it.each([
      [1, 50],
      [3, 50],
      [4, 80],
      [6, 80],
      [7, 85],
      [10, 85],
      [20, 85],
    ])('%i devices -> %i%%', (devices, expected) => {
      expect(thresholdFor(growth(), devices)).toBe(expected);
    });

    it.each([
      [{ initialThresholdPercent: 85, maxThresholdPercent: 95 }, 5, 85],
      [{ initialThresholdPercent: 40, maxThresholdPercent: 70 }, 5, 70],
      [{ initialThresholdPercent: 40, maxThresholdPercent: 70 }, 8, 70],
    ])('keeps the middle step within [initial, max] (%j, %i devices -> %i%%)', (g, devices, expected) => {
      expect(thresholdFor(growth(g), devices)).toBe(expected);
    });
  });

  describe("sizes the next volume like the seed's calc_new_size", () => {
    it.each([
      [1, 150],
      [3, 150],
      [4, 300],
      [6, 300],
      [7, 1000],
      [10, 1000],
      [11, 1500],
      [15, 1500],
    ])('%i devices -> %i GiB', (devices, expected) => {
      expect(nextVolumeGiB(growth(), devices, devices * 100)).toBe(expected);
    });

    it.each([
      [{ maxVolumeGiB: 500 }, 11, 500],
      [{ maxVolumeGiB: 100, minVolumeGiB: 20 }, 1, 100],
      [{ minVolumeGiB: 400 }, 1, 400],
    ])('clamps the tier to min/max volume size (%j, %i devices -> %i GiB)', (g, devices, expected) => {
      expect(nextVolumeGiB(growth(g), devices, 0)).toBe(expected);
    });

    it.each([
      [100, 150],
      [1000, 200],
      [5000, 500],
    ])('uses total-size tiers when configured (total %i GiB -> %i GiB)', (total, expected) => {
      const g = growth({
        tiers: [
          { upToTotalGiB: 500, volumeGiB: 150 },
          { upToTotalGiB: 2000, volumeGiB: 200 },
          { upToTotalGiB: 4000, volumeGiB: 500 },
        ],
      });
      expect(nextVolumeGiB(g, 2, total)).toBe(expected);
    });
  });

  describe('sizes by factor x current total, clamped', () => {
    it.each([
      [1, 200, 200],
      [0.5, 200, 150],
      [0.5, 1000, 500],
      [2, 1000, 1500],
      [0.25, 150, 150],
    ])('factor %d of %i GiB -> %i GiB', (factor, total, expected) => {
      expect(nextVolumeGiB(growth({ sizing: 'factor', factor }), 2, total)).toBe(expected);
    });
  });

  describe('decides an add-device grow', () => {
    it('grows by the tier and reports the next threshold', () => {
      const decision = decideAddDevice(growth(), state([200, 150, 150]));
      expect(decision).toMatchObject({ action: 'add-device', sizeGiB: 150, nextThresholdPercent: 80 });
    });

    it.each<[string, Parameters<typeof resolveSettings>[0]['growth'], GrowthState, string]>([
      ['at max volumes', { maxVolumes: 3 }, state([200, 150, 150]), 'max-volumes'],
      ['at the max total', { maxTotalGiB: 500 }, state([200, 150, 150]), 'max-total'],
      ['without attachment slots', {}, state([200], { freeAttachmentSlots: 0 }), 'attachment-limit'],
      [
        'within the cooldown',
        { cooldownSeconds: 300 },
        state([200], { lastGrowAt: NOW - 60_000 }),
        'cooldown',
      ],
      [
        'for a manual size above the max volume size',
        {},
        state([200], { requestedSizeGiB: 2000 }),
        'requested-size',
      ],
      [
        'for a manual size past the max total',
        { maxTotalGiB: 1000 },
        state([200], { requestedSizeGiB: 900 }),
        'max-total',
      ],
    ])('refuses %s', (_what, g, s, reason) => {
      const decision = decideAddDevice(growth(g), s);
      expect(decision).toMatchObject({ action: 'refuse', reason });
    });

    it('refuses with the figures and when to try again in the cooldown', () => {
      const decision = decideAddDevice(
        growth({ cooldownSeconds: 300 }),
        state([200], { lastGrowAt: NOW - 60_000 }),
      );
      expect(decision).toMatchObject({
        action: 'refuse',
        retryAfterSeconds: 240,
        figures: { devices: 1, totalGiB: 200, cooldownRemainingSeconds: 240, thresholdPercent: 50 },
      });
    });

    it('grows again once the cooldown is over', () => {
      const decision = decideAddDevice(
        growth({ cooldownSeconds: 300 }),
        state([200], { lastGrowAt: NOW - 300_000 }),
      );
      expect(decision.action).toBe('add-device');
    });

    it('lets a manual request skip the cooldown and choose the size', () => {
      const decision = decideAddDevice(
        growth({ cooldownSeconds: 300 }),
        state([200], { lastGrowAt: NOW - 1000, manual: true, requestedSizeGiB: 42 }),
      );
      expect(decision).toMatchObject({ action: 'add-device', sizeGiB: 42 });
    });

    it('never grows past the max total, even below the min volume size', () => {
      const decision = decideAddDevice(growth({ maxTotalGiB: 400 }), state([200, 150]));
      expect(decision).toMatchObject({ action: 'add-device', sizeGiB: 50 });
    });
  });

  describe('decides an in-place grow', () => {
    it("enlarges the set's primary volume", () => {
      const decision = decideExpand(growth({ strategy: 'expand' }), state([100, 500]));
      expect(decision).toMatchObject({ action: 'expand', volumeId: 'vol-0', sizeGiB: 150, newSizeGiB: 250 });
    });

    it('enlarges the largest volume when there is no primary', () => {
      const target = expandTarget([
        { volumeId: 'vol-a', sizeGiB: 100 },
        { volumeId: 'vol-b', sizeGiB: 300 },
      ]);
      expect(target?.volumeId).toBe('vol-b');
    });

    it.each<[string, GrowthState, string]>([
      [
        'while the previous modification runs',
        state([100], { modifications: { inProgress: true, startTimes: [NOW - 1000] } }),
        'modification-in-progress',
      ],
      [
        'after 4 modifications in 24 h',
        state([100], {
          modifications: { inProgress: false, startTimes: [1, 2, 3, 4].map((h) => NOW - h * 3600_000) },
        }),
        'modification-rate',
      ],
      ['when the volume is at its largest', state([1500]), 'max-volume-size'],
    ])('is blocked %s', (_what, s, reason) => {
      const decision = decideExpand(growth({ strategy: 'expand' }), s);
      expect(decision).toMatchObject({ action: 'refuse', reason });
      expect(expandBlocked(decision)).toBe(true);
    });

    it('counts only the modifications of the last 24 h', () => {
      const decision = decideExpand(
        growth({ strategy: 'expand' }),
        state([100], {
          modifications: { inProgress: false, startTimes: [25, 26, 27, 3].map((h) => NOW - h * 3600_000) },
        }),
      );
      expect(decision).toMatchObject({ action: 'expand', figures: { modificationsIn24h: 1 } });
    });

    it('caps the increment at the max volume size', () => {
      const decision = decideExpand(growth({ strategy: 'expand' }), state([1400]));
      expect(decision).toMatchObject({ action: 'expand', sizeGiB: 100, newSizeGiB: 1500 });
    });

    it('is not blocked (no add-device fallback) by the total limit', () => {
      const decision = decideExpand(growth({ strategy: 'expand', maxTotalGiB: 100 }), state([100]));
      expect(decision).toMatchObject({ action: 'refuse', reason: 'max-total' });
      expect(expandBlocked(decision)).toBe(false);
    });
  });
});

describe('the growth settings', () => {
  it('rejects tiers that mix upToDevices and upToTotalGiB', () => {
    expect(() =>
      resolveSettings({
        groupName: 'g',
        growth: {
          tiers: [
            { upToDevices: 3, volumeGiB: 150 },
            { upToTotalGiB: 900, volumeGiB: 300 },
          ],
        },
      }),
    ).toThrow(
      'growth.tiers[1]: needs exactly one of upToDevices or upToTotalGiB, the same key in every tier (the first tier uses upToDevices)',
    );
  });
});
