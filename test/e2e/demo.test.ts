/**
 * The demo's four claims as end-to-end tests: the real handlers on the local cloud, the real agent
 * scripts on loop devices (btrfs). The claims build on each other, as in `npm run demo`.
 * Needs root and loop devices: fails loudly (not skipped) where they are unavailable.
 */
import { claimFailures, runClaim } from '../demo/claims';
import { claimGrownSetMoves, claimGrows, claimNodesComeUp, claimSetMoves, Demo } from '../demo/scenarios';

jest.setTimeout(180_000);

describe('berth end to end, as in npm run demo', () => {
  let demo: Demo | undefined;
  const lines: string[] = [];

  beforeAll(() => {
    demo = new Demo({ seed: 7, out: (line) => lines.push(line) });
    demo.setUp();
  });

  afterAll(() => {
    demo?.cleanup();
  });

  /** Asserts a claim held; when it did not, prints the timeline of the step first. */
  function expectHeld(failures: string[]): void {
    if (failures.length > 0) console.error(lines.join('\n'));
    lines.length = 0;
    expect(failures).toEqual([]);
  }

  it('brings up three nodes holding sets node-0, node-1, node-2 and one spare', async () => {
    const result = await runClaim(1, 'nodes come up', (c) => claimNodesComeUp(demo!, c));
    expectHeld(claimFailures(result));
  });

  it('moves node-1 with its files to another instance when its instance is terminated', async () => {
    const result = await runClaim(2, 'set moves', (c) => claimSetMoves(demo!, c));
    expectHeld(claimFailures(result));
  });

  it('adds a volume to node-2’s btrfs when its disk alarm fires, and sets the alarm back to OK', async () => {
    const result = await runClaim(3, 'grows', (c) => claimGrows(demo!, c));
    expectHeld(claimFailures(result));
  });

  it('gives both volumes of node-2 to its successor, which mounts the two-device btrfs with all data', async () => {
    const result = await runClaim(4, 'grown set moves', (c) => claimGrownSetMoves(demo!, c));
    expectHeld(claimFailures(result));
  });

  it("made every handler call as its function's role, and the synthesized policies refused none", () => {
    const authorizer = demo!.world.cloud.authorizer;
    expect(authorizer.calls).toBeGreaterThan(100);
    expect(authorizer.denied).toBe(0);
  });
});
