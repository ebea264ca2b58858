/**
 * A small fault campaign (the full one is `npm run bench -- faults`): lifecycle and alarm events
 * with throttling, API errors, duplicates, reordering and killed handlers, then the reconciler;
 * every invariant must hold. A violation prints the seed and the event log to replay it.
 */
import { campaign } from '../bench/faults';
import { INVARIANTS } from '../demo/invariants';

jest.setTimeout(240_000);

describe('the fault campaign', () => {
  it('keeps every invariant over 200 faulty lifecycle and alarm events on 2 seeds', async () => {
    // Prepare / Act. Host steps do not fail here: a failed grow-filesystem leaves a volume that
    // never joined (grow keeps it, as the script does not say whether it joined); the full
    // campaign (`npm run bench -- faults`) injects host failures and reports that case.
    const { result } = await campaign({ seeds: [1, 2], eventsPerSeed: 100, scriptFailureRate: 0 });

    // Assess
    expect(result.events).toBeGreaterThanOrEqual(200);
    expect(result.kills).toBeGreaterThan(0);
    expect(result.duplicates).toBeGreaterThan(0);
    expect(Object.keys(result.byInvariant).sort()).toEqual([...INVARIANTS].sort());
    expect(result.byInvariant).toEqual(Object.fromEntries(INVARIANTS.map((name) => [name, 0])));
    expect(result.violations).toBe(0);
  });
});
