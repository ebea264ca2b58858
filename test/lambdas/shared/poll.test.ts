import { poll } from '../../../lambdas/shared/poll';
import { DeadlineError, TimeoutError } from '../../../lambdas/shared/errors';
import { VirtualClock } from '../../../local-cloud/src/clock';

describe('poll', () => {
  it('returns the first value a look finds, backing off between looks', async () => {
    // Prepare
    const clock = new VirtualClock();
    const start = clock.now();
    const looks: number[] = [];
    // Act
    const value = await poll(
      { clock },
      async () => {
        looks.push(clock.now() - start);
        return looks.length === 4 ? 'ready' : undefined;
      },
      { what: 'x', timeoutSeconds: 60, intervalMs: 500, maxIntervalMs: 1000 },
    );
    // Assess
    expect(value).toBe('ready');
    expect(looks).toEqual([0, 500, 1500, 2500]);
  });

  it.each([
    ['its own timeout comes first', 10, 60_000, TimeoutError, /x: not reached in 10 s \(last seen: busy\)/],
    ["the invocation's deadline comes first", 600, 30_000, DeadlineError, /before the invocation's deadline/],
  ])(
    'gives up when %s, never sleeping past the bound',
    async (_what, timeoutSeconds, deadlineIn, kind, message) => {
      // Prepare
      const clock = new VirtualClock();
      const start = clock.now();
      const deadline = start + deadlineIn;
      // Act
      const outcome = poll({ clock, deadline }, async () => undefined, {
        what: 'x',
        timeoutSeconds,
        intervalMs: 7000,
        describe: () => 'busy',
      });
      // Assess
      await expect(outcome).rejects.toThrow(kind);
      await expect(outcome).rejects.toThrow(message);
      expect(clock.now() - start).toBe(Math.min(timeoutSeconds * 1000, deadlineIn));
    },
  );
});
