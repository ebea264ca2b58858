/**
 * `npm run bench -- bundles [--runs 9] [--prototypes]`: per handler, the bundle's size and the
 * time a fresh Node process takes to load it (module-level SDK clients included), under the
 * CURRENT options of infra/lambda-bundling.ts against TODAY's options (the named baseline below:
 * the options at the start of issue 14), in the same run. Each bundle is loaded the way Lambda
 * runs it: with `--enable-source-maps` when it has source maps (infra/berth-function.ts sets
 * NODE_OPTIONS for them). `--prototypes` adds one line per single option change, to show which
 * one matters. Init time is the median of `--runs` fresh processes.
 *
 * One JSON line per (handler, variant): `{"bench":"bundles","handler","variant","bytes","mapBytes",
 * "initMs","initRatio"}` (initRatio: initMs / today's initMs for that handler); then one summary
 * line per variant with the median ratio. Goal: current init ≤ 60 % of today's.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { build, type BuildOptions } from 'esbuild';
import { BUNDLE_CHOICES, esbuildOptions, handlerEntry, HANDLERS } from '../../infra/lambda-bundling';
import { ROOT } from '../../scripts/bundle';
import { benchArgs } from './args';

/**
 * Today's options (infra/lambda-bundling.ts at the start of issue 14, commit 7db9b7b): CommonJS,
 * minified, a linked source map beside the bundle (`sourcemap: true`), esbuild's default
 * mainFields for platform node (`main,module`: CommonJS builds first), the pinned SDK bundled; the
 * function runs with NODE_OPTIONS=--enable-source-maps.
 */
export const TODAY: Variant = {
  name: 'today',
  options: {
    bundle: true,
    platform: 'node',
    target: 'node22',
    format: 'cjs',
    minify: true,
    sourcemap: true,
    external: [],
  },
  nodeFlags: ['--enable-source-maps'],
};

interface Variant {
  name: string;
  options: BuildOptions;
  nodeFlags: string[];
}

/** The options infra/lambda-bundling.ts gives now, with the flag the function sets for source maps. */
function current(entry: string, outfile: string): Variant {
  const options = esbuildOptions(entry, outfile, BUNDLE_CHOICES) as BuildOptions;
  return {
    name: 'current',
    options,
    nodeFlags: options.sourcemap ? ['--enable-source-maps'] : [],
  };
}

/** One change at a time from today's, to see which one matters. */
const PROTOTYPES: Variant[] = [
  { ...TODAY, name: 'today-without-enable-source-maps', nodeFlags: [] },
  { ...TODAY, name: 'today-esm-first', options: { ...TODAY.options, mainFields: ['module', 'main'] } },
  { ...TODAY, name: 'today-no-sourcemap', options: { ...TODAY.options, sourcemap: false }, nodeFlags: [] },
  {
    name: 'proposed',
    options: { ...TODAY.options, sourcemap: false, mainFields: ['module', 'main'] },
    nodeFlags: [],
  },
];

const PROBE = `
const start = process.hrtime.bigint();
require(process.argv[1]);
const ms = Number(process.hrtime.bigint() - start) / 1e6;
process.stdout.write(String(ms));
`;

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

interface Built {
  variant: Variant;
  outfile: string;
  bytes: number;
  mapBytes: number;
  times: number[];
}

async function bundle(variant: Variant, entry: string, outfile: string): Promise<Built> {
  await build({ ...variant.options, entryPoints: [entry], outfile, logLevel: 'warning' });
  const mapFile = `${outfile}.map`;
  return {
    variant,
    outfile,
    bytes: statSync(outfile).size,
    mapBytes: existsSync(mapFile) ? statSync(mapFile).size : 0,
    times: [],
  };
}

/** One fresh process loading the bundle, with the variant's Node flags. */
function probe(built: Built): number {
  const result = spawnSync(process.execPath, [...built.variant.nodeFlags, '-e', PROBE, built.outfile], {
    env: { ...process.env, AWS_REGION: 'eu-west-1', BERTH_SETTINGS: '', NODE_OPTIONS: '' },
    encoding: 'utf8',
  });
  if (result.status !== 0) throw new Error(`loading ${built.outfile} failed: ${result.stderr}`);
  return Number(result.stdout);
}

export async function run(args: string[]): Promise<void> {
  const options = benchArgs(args, {
    bench: 'bundles',
    summary: "per handler, the bundle's size and cold-load time under the current options against today's",
    options: {
      runs: {
        type: 'int',
        default: 9,
        min: 1,
        description: 'cold loads per bundle (the median is reported)',
      },
      prototypes: { type: 'flag', description: 'add one line per single option change' },
    },
  });
  if (!options) return;
  const { runs, prototypes } = options;
  const out = mkdtempSync(join(tmpdir(), 'berth-bundles-'));
  const ratios = new Map<string, number[]>();
  try {
    for (const handler of HANDLERS) {
      const entry = join(ROOT, handlerEntry(handler));
      const variants = [TODAY, ...(prototypes ? PROTOTYPES : [])];
      const builds: Built[] = [];
      for (const variant of [TODAY])
        builds.push(await bundle(variant, entry, join(out, variant.name, handler, 'index.js')));
      const currentFile = join(out, 'current', handler, 'index.js');
      builds.push(await bundle(current(entry, currentFile), entry, currentFile));
      for (const variant of variants.slice(1))
        builds.push(await bundle(variant, entry, join(out, variant.name, handler, 'index.js')));
      // Round-robin, so that the machine's load falls on every variant alike.
      for (let i = 0; i < runs; i++) for (const built of builds) built.times.push(probe(built));
      const todayMs = median(builds[0]?.times ?? []);
      for (const built of builds) {
        const initMs = median(built.times);
        const initRatio = Number((initMs / todayMs).toFixed(2));
        ratios.set(built.variant.name, [...(ratios.get(built.variant.name) ?? []), initRatio]);
        console.log(
          JSON.stringify({
            bench: 'bundles',
            handler,
            variant: built.variant.name,
            bytes: built.bytes,
            mapBytes: built.mapBytes,
            initMs: Number(initMs.toFixed(1)),
            initRatio,
            nodeFlags: built.variant.nodeFlags,
            runs,
          }),
        );
      }
    }
    for (const [variant, values] of ratios) {
      if (variant === 'today') continue;
      const ratio = median(values);
      console.log(
        JSON.stringify({
          bench: 'bundles',
          summary: variant,
          medianInitRatio: ratio,
          goalInitRatio: 0.6,
          meetsGoal: ratio <= 0.6,
        }),
      );
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
  }
}
