/**
 * `npm run bench -- bundles`: per handler, the minified bundle size and the time a fresh Node
 * process takes to load it (module-level SDK clients included), with the SDK bundled and with it
 * left to the runtime. One JSON line per (handler, mode); init time is the median of `--runs` runs.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundleHandler, handlerNames, ROOT, type SdkMode } from '../../scripts/bundle';

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

export async function run(args: string[]): Promise<void> {
  const runsArg = args.indexOf('--runs');
  const runs = runsArg >= 0 ? Number(args[runsArg + 1]) : 7;
  const out = mkdtempSync(join(tmpdir(), 'berth-bundles-'));
  try {
    for (const handler of handlerNames()) {
      for (const sdk of ['bundled', 'runtime'] as SdkMode[]) {
        // Runtime mode resolves @aws-sdk from the project's node_modules, as Lambda resolves its own copy.
        const dir = sdk === 'runtime' ? join(ROOT, 'dist', 'bench-runtime') : join(out, sdk);
        const { outfile, bytes } = await bundleHandler(handler, sdk, dir);
        const times: number[] = [];
        for (let i = 0; i < runs; i++) {
          const probe = spawnSync(process.execPath, ['-e', PROBE, outfile], {
            env: { ...process.env, AWS_REGION: 'eu-west-1', BERTH_SETTINGS: '' },
            encoding: 'utf8',
          });
          if (probe.status !== 0) throw new Error(`loading ${outfile} failed: ${probe.stderr}`);
          times.push(Number(probe.stdout));
        }
        console.log(
          JSON.stringify({
            bench: 'bundle',
            handler,
            bytes,
            initMs: Number(median(times).toFixed(1)),
            sdk,
            runs,
          }),
        );
      }
    }
  } finally {
    rmSync(out, { recursive: true, force: true });
    rmSync(join(ROOT, 'dist', 'bench-runtime'), { recursive: true, force: true });
  }
}
