import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { benchArgs, type BenchCommand, type OptionSpec } from './args';

const COMMAND = {
  bench: 'demo-bench',
  summary: 'what one run measures',
  options: {
    sets: { type: 'ints', default: [10, 100], min: 1, description: 'set counts' },
    level: { type: 'number', default: 0.5, above: 0, description: 'GiB' },
    seed: { type: 'int', description: 'one seed' },
    metadata: { type: 'choice', choices: ['dup', 'raid1'], default: 'dup', description: 'profile' },
    verbose: { type: 'flag', description: 'more output' },
  },
} as const satisfies BenchCommand<Record<string, OptionSpec>>;

describe('benchArgs', () => {
  it('gives typed values, defaults where an option is not given', () => {
    // Act
    const given = benchArgs(
      ['--sets', '1,2,3', '--level=2.5', '--seed', '7', '--metadata', 'raid1', '--verbose'],
      COMMAND,
    );
    const defaults = benchArgs([], COMMAND);

    // Assess
    expect(given).toEqual({ sets: [1, 2, 3], level: 2.5, seed: 7, metadata: 'raid1', verbose: true });
    expect(defaults).toEqual({
      sets: [10, 100],
      level: 0.5,
      seed: undefined,
      metadata: 'dup',
      verbose: false,
    });
  });

  it.each([
    [
      ['--sets', '10,x'],
      'demo-bench: --sets "10,x" is not a comma-separated list of whole numbers ≥ 1; give e.g. --sets 10,100',
    ],
    [
      ['--sets', '0'],
      'demo-bench: --sets "0" is not a comma-separated list of whole numbers ≥ 1; give e.g. --sets 10,100',
    ],
    [['--level', '0'], 'demo-bench: --level "0" is not a number > 0; give e.g. --level 0.5'],
    [['--seed', '1.5'], 'demo-bench: --seed "1.5" is not a whole number; give e.g. --seed N'],
    [
      ['--metadata', 'raid5'],
      'demo-bench: --metadata "raid5" is not one of dup, raid1; give e.g. --metadata dup',
    ],
    [
      ['--set', '10'],
      'demo-bench: unknown option --set; the options are --sets, --level, --seed, --metadata, --verbose, --help (npm run bench -- demo-bench --help)',
    ],
    [['--sets'], 'demo-bench: --sets needs a value, e.g. --sets 10,100 (npm run bench -- demo-bench --help)'],
    [
      ['--verbose=yes'],
      'demo-bench: --verbose takes no value: give it alone to turn it on (npm run bench -- demo-bench --help)',
    ],
    [
      ['10'],
      "demo-bench: unexpected argument '10': every value follows its option, e.g. --name value (npm run bench -- demo-bench --help)",
    ],
  ])('refuses %j in one line naming the option, the value and the fix', (args, message) => {
    // Act, Assess
    expect(() => benchArgs(args, COMMAND)).toThrow(message);
  });

  it('lists the options with their defaults on --help and runs nothing', () => {
    // Prepare
    const log = jest.spyOn(console, 'log').mockImplementation(() => undefined);

    // Act
    const options = benchArgs(['--help'], COMMAND);

    // Assess
    expect(options).toBeUndefined();
    expect(log.mock.calls.map((call) => String(call[0]))).toEqual([
      [
        'usage: npm run bench -- demo-bench [options]',
        '  what one run measures',
        '  --sets N,N,…          set counts (default 10,100)',
        '  --level X             GiB (default 0.5)',
        '  --seed N              one seed',
        '  --metadata dup|raid1  profile (default dup)',
        '  --verbose             more output',
        '  --help                this list',
      ].join('\n'),
    ]);
    log.mockRestore();
  });
});

describe('the bench runner', () => {
  const runner = (...args: string[]) =>
    spawnSync(
      process.execPath,
      [
        join(__dirname, '..', '..', 'node_modules', 'tsx', 'dist', 'cli.mjs'),
        join(__dirname, 'index.ts'),
        ...args,
      ],
      {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      },
    );

  it('says a bad option in one line (exit 2) before the bench starts', () => {
    // Act
    const run = runner('reconcile', '--sets', 'ten');

    // Assess
    expect(run.status).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr).toBe(
      'reconcile: --sets "ten" is not a comma-separated list of whole numbers ≥ 1; give e.g. --sets 10,100,1000\n',
    );
  });

  it('lists the benchmarks, not its helper modules', () => {
    // Act
    const run = runner('--help');

    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout).toMatch(/available: bundles, .*reconcile, recovery;/);
    expect(run.stdout).not.toMatch(/\bargs\b|local-env/);
  });
});
