/** The demo's command line, timeline and claim report (the parts that need no root). */
import { claimFailures, formatClaims, formatTable, runClaim } from './claims';
import { parseArgs, rootProblem, UsageError } from './cli';
import { formatEntry, Timeline } from './timeline';

describe('the demo command line', () => {
  it('reads --keep and --seed N (or --seed=N), with seed 1 by default', () => {
    expect(parseArgs([])).toEqual({ scenario: 'default', keep: false, seed: 1, help: false });
    expect(parseArgs(['--keep', '--seed', '42'])).toEqual({
      scenario: 'default',
      keep: true,
      seed: 42,
      help: false,
    });
    expect(parseArgs(['--seed=7']).seed).toBe(7);
  });

  it('takes the etcd demo as its first word, and no other word', () => {
    expect(parseArgs(['etcd', '--seed', '3'])).toEqual({
      scenario: 'etcd',
      keep: false,
      seed: 3,
      help: false,
    });
    expect(() => parseArgs(['--keep', 'etcd'])).toThrow(new UsageError('unknown option "etcd"'));
  });

  it('rejects an unknown option and a seed that is not a whole number, naming them', () => {
    expect(() => parseArgs(['--fast'])).toThrow(new UsageError('unknown option "--fast"'));
    expect(() => parseArgs(['--seed', 'x'])).toThrow(/--seed needs an integer .* \(got "x"\)/);
    expect(() => parseArgs(['--seed'])).toThrow(/--seed needs an integer/);
  });

  it('says clearly that it needs root, and why, when it does not run as root', () => {
    expect(rootProblem(0)).toBeUndefined();
    expect(rootProblem(1000)).toMatch(/needs root: it creates loop devices .* \(running as uid 1000\)/);
  });
});

describe('the demo timeline', () => {
  it('prints one line per step with the real and the cloud time elapsed', () => {
    // Prepare: a fake real clock and cloud clock.
    let real = 0;
    let cloud = 1_000_000;
    const lines: string[] = [];
    const timeline = new Timeline(
      () => cloud,
      (line) => lines.push(line),
      () => real,
    );

    // Act
    real = 1234;
    cloud += 95_000;
    timeline.step('EC2 AttachVolume vol-1 -> i-1');
    timeline.note('detail');

    // Assess
    expect(lines).toEqual([
      '[  1.23s | cloud 01:35] EC2 AttachVolume vol-1 -> i-1',
      `${' '.repeat('[  1.23s | cloud 01:35]'.length)}   detail`,
    ]);
    expect(formatEntry({ realMs: 0, virtualMs: 3_723_000, kind: 'step', text: 'x' })).toBe(
      '[  0.00s | cloud 1:02:03] x',
    );
  });
});

describe('the claim report', () => {
  it('fails a claim when any check fails or when it throws, and lists what failed', async () => {
    const held = await runClaim(1, 'holds', async (c) => {
      c.expect(true, 'a');
      c.equal(2, 2, 'b');
    });
    const failed = await runClaim(2, 'fails', async (c) => {
      c.equal(1, 2, 'numbers match');
    });
    const thrown = await runClaim(3, 'throws', async () => {
      throw new Error('boom');
    });

    expect([held.ok, failed.ok, thrown.ok]).toEqual([true, false, false]);
    expect(claimFailures(failed)).toEqual(['numbers match (expected 2, got 1)']);
    expect(claimFailures(thrown)).toEqual(['stopped by Error: boom']);
    expect(formatClaims([held, failed])).toMatch(
      /^PASS {2}claim 1: holds\n[\s\S]*FAIL {2}claim 2: fails[\s\S]*1 of 2 claims hold$/,
    );
  });

  it('lays out the summary table in aligned columns', () => {
    expect(
      formatTable([
        ['node', 'NodeID'],
        ['i-1', 'node-0'],
      ]),
    ).toBe('node  NodeID\n----  ------\ni-1   node-0');
  });
});
