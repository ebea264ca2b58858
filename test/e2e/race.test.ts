/**
 * Two launches racing for the last free set, end to end: both lifecycle events are delivered at
 * once to the real launch handler; exactly one instance wins the set and mounts it, the other
 * continues as a spare. Needs root and loop devices (fails loudly where they are unavailable).
 */
import { Demo } from '../demo/scenarios';

jest.setTimeout(120_000);

describe('two launches racing for the last free set', () => {
  let demo: Demo | undefined;
  const lines: string[] = [];

  afterAll(() => {
    demo?.cleanup();
  });

  it('gives the set to exactly one instance and makes the other a spare', async () => {
    // Prepare: one set, and a group in its AZ only, so that both instances can claim it.
    demo = new Demo({ seed: 11, sets: 1, azs: ['eu-west-1b'], out: (line) => lines.push(line) });
    demo.setUp();

    // Act: two instances launch at the same moment; their events are delivered concurrently.
    const launched = demo.world.launch(2);
    await demo.settle();

    // Assess
    const holder = demo.world.holder('node-0');
    expect(launched).toHaveLength(2);
    expect(launched).toContain(holder);
    const loser = launched.find((id) => id !== holder) ?? '';
    expect(demo.world.nodeIdOf(loser)).toBeUndefined();
    expect(demo.world.inService().sort()).toEqual([...launched].sort());
    expect(demo.envFile(holder ?? '')?.NODE_ID).toBe('node-0');
    expect(demo.host.isMounted(holder ?? '', '/data')).toBe(true);
    expect(demo.host.isMounted(loser, '/data')).toBe(false);
    expect(demo.invariants()).toEqual([]);
    const attaches = demo.cloud.accounting.log.filter(
      (c) =>
        c.operation === 'AttachVolume' &&
        (c.input as { VolumeId?: string }).VolumeId === demo?.world.set('node-0').volumeIds[0],
    );
    // Each launch tried at most once: the loser lost with VolumeInUse, or saw the set taken.
    expect(attaches.filter((c) => !c.error)).toHaveLength(1);
    expect(attaches.filter((c) => c.error && c.error !== 'VolumeInUse')).toEqual([]);
  });
});
