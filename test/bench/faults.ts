/**
 * `npm run bench -- faults [--events N] [--seeds N] [--first-seed S] [--workers N] [--seed S --verbose]`:
 * the fault campaign.
 *
 * Seeded random runs of lifecycle and alarm events against the local cloud (host scripts recorded,
 * not run), with throttling on 20 % of calls, random API errors on 5 %, 10 % of events delivered
 * twice, events delivered out of order (shuffled, some held back a round, some run concurrently),
 * and handlers killed after a random AWS call and then run again (as EventBridge retries a failed
 * invocation), plus the world's faults (agents late, offline or never there, AZ brownouts, stuck
 * attachments, deadlines, slow host commands, stopped instances, alarm storms). After the
 * reconciler has run, the invariants of test/demo/invariants.ts are checked.
 *
 * `--events` is the total, split over the seeds; the seeds run in `--workers` child processes
 * (default 2), each printing a progress line on stderr as a seed ends. Prints one JSON line
 * `{"bench":"faults","events":…,"seeds":…,"violations":0,"seconds":…,"cpuSeconds":…,
 * "peakRssMiB":…,"rssPer10kEvents":[…],…}` (`seconds` is wall time, `cpuSeconds` the CPU time of
 * the seeds added up: what one core needs); a violation prints its seed and the event log to
 * replay it (`--seed S --events N --verbose`). The seeds' code lives in test/bench/faults/.
 */
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { INVARIANTS } from '../demo/invariants';
import { benchArgs } from './args';
import { runSeed } from './faults/seed';
import { printReplay, summarize, summary } from './faults/summary';
import type { CampaignOptions, CampaignResult, SeedResult, SeedSummary } from './faults/types';

export { runSeed } from './faults/seed';
export { printReplay } from './faults/summary';
export { FAULT_KINDS } from './faults/types';
export type {
  CampaignOptions,
  CampaignResult,
  FaultKind,
  LogEntry,
  SeedResult,
  SeedSummary,
} from './faults/types';

/** Runs every seed in this process; the result is the JSON line's content. */
export async function campaign(
  options: CampaignOptions,
  onViolation: (seed: SeedResult) => void = printReplay,
): Promise<{ result: CampaignResult; seeds: SeedResult[] }> {
  const started = performance.now();
  const seeds: SeedResult[] = [];
  for (const seed of options.seeds) {
    const r = await runSeed(seed, options);
    seeds.push(r);
    if (r.violations.length > 0 || r.iamDenied > 0) onViolation(r);
  }
  return { seeds, result: summarize(seeds, performance.now() - started) };
}

interface Cli extends CampaignOptions {
  workers: number;
  /** Internal: run these seeds and print one JSON line per seed (a worker of the parent run). */
  worker: boolean;
}

/** `undefined` when --help was printed. */
function parse(args: readonly string[]): Cli | undefined {
  const o = benchArgs(args, {
    bench: 'faults',
    summary: 'the seeded fault campaign; replay one seed with its event log: --seed S --events N --verbose',
    options: {
      events: { type: 'int', default: 10_000, min: 1, description: 'events in all (per seed with --seed)' },
      seeds: { type: 'int', default: 10, min: 1, description: 'how many seeds' },
      'first-seed': { type: 'int', default: 1, min: 0, description: 'the first seed' },
      seed: { type: 'int', min: 0, description: 'replay this one seed' },
      'seed-list': { type: 'ints', min: 0, description: 'internal: the seeds a worker process runs' },
      workers: { type: 'int', default: 2, min: 1, description: 'child processes at once' },
      verbose: { type: 'flag', description: 'print the event log' },
    },
  });
  if (!o) return undefined;
  const list = o['seed-list'];
  const single = o.seed;
  const seeds =
    list !== undefined
      ? [...list]
      : single !== undefined
        ? [single]
        : Array.from({ length: o.seeds }, (_, i) => o['first-seed'] + i);
  return {
    seeds,
    eventsPerSeed:
      single !== undefined || list !== undefined ? o.events : Math.ceil(o.events / Math.max(1, seeds.length)),
    verbose: o.verbose,
    workers: single !== undefined ? 1 : o.workers,
    worker: list !== undefined,
  };
}

/**
 * Runs the seeds in `workers` child processes at a time, one process per seed: a seed's run must
 * not depend on the seeds run before it (in one process the handlers' shared SDK clients, their
 * retry quota and module state carry over: seed 6 of the default run had 0 violations as the third
 * seed of a worker and 2 alone), so that its replay command replays it.
 */
async function inWorkers(options: Cli): Promise<CampaignResult> {
  const started = performance.now();
  const queue = [...options.seeds];
  const bench = resolve(__dirname, 'index.ts');
  const seeds: SeedSummary[] = [];
  const runOne = (seed: number): Promise<void> =>
    new Promise<void>((done, failed) => {
      const child = spawn(
        process.execPath,
        [
          ...process.execArgv,
          bench,
          'faults',
          '--seed-list',
          String(seed),
          '--events',
          String(options.eventsPerSeed),
        ],
        { stdio: ['ignore', 'pipe', 'inherit'] },
      );
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
      child.on('error', failed);
      child.on('close', (code) => {
        const line = out.split('\n').find((l) => l.startsWith('{'));
        if (!line) {
          failed(new Error(`faults worker for seed ${seed} exited ${code} with no result`));
          return;
        }
        const summary = JSON.parse(line) as SeedSummary;
        seeds.push(summary); // in the order the seeds finished: rssPer10kEvents follows the run
        console.error(progress(summary, seeds, started));
        done();
      });
    });
  const slot = async (): Promise<void> => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) await runOne(seed);
  };
  await Promise.all(Array.from({ length: Math.min(options.workers, options.seeds.length) }, slot));
  return summarize(seeds, performance.now() - started);
}

/** `faults: seed 7 done (1004 events, 0 violations, 61.2 s CPU, peak RSS 290 MiB); 3 seeds, 3010 events in 95 s` */
function progress(seed: SeedSummary, all: readonly SeedSummary[], started: number): string {
  const events = all.reduce((n, s) => n + s.events, 0);
  return (
    `faults: seed ${seed.seed} done (${seed.events} events, ${seed.violations.length} violations, ${seed.iamDenied} IAM denied, ` +
    `${seed.cpuSeconds ?? '?'} s CPU, peak RSS ${seed.peakRssMiB ?? '?'} MiB); ` +
    `${all.length} seeds, ${events} events in ${Math.round((performance.now() - started) / 1000)} s`
  );
}

export async function run(args: string[]): Promise<void> {
  const options = parse(args);
  if (!options) return;
  let result: CampaignResult;
  if (options.worker) {
    // A worker: one JSON line per seed for the parent (violations print their replay on stderr).
    for (const seed of options.seeds) {
      const r = await runSeed(seed, options);
      if (r.violations.length > 0 || r.iamDenied > 0) printReplay(r);
      console.log(JSON.stringify(summary(r)));
    }
    return;
  }
  if (options.workers > 1 && options.seeds.length > 1) result = await inWorkers(options);
  else result = (await campaign(options)).result;
  console.log(JSON.stringify(result));
  if (result.violations > 0) process.exitCode = 1;
}
export { INVARIANTS };
