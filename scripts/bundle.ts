/**
 * Bundles every handler under lambdas/<name>/index.ts into dist/lambdas/<name>/index.js with
 * esbuild and the options the CDK construct uses (infra/lambda-bundling.ts esbuildOptions). The
 * published package ships these bundles, so a consumer's synth needs neither esbuild nor our
 * TypeScript. `--sdk runtime` leaves @aws-sdk/* to the Lambda runtime's copy (to measure it only).
 */
import { build } from 'esbuild';
import { existsSync, readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { esbuildOptions, type BundleChoices } from '../infra/lambda-bundling';

export type SdkMode = 'bundled' | 'runtime';

export const ROOT = join(__dirname, '..');

/** Where the prebuilt bundles go; infra/berth-function.ts reads them from here in the package. */
export const PREBUILT_DIR = join(ROOT, 'dist', 'lambdas');

export function handlerNames(): string[] {
  return readdirSync(join(ROOT, 'lambdas'))
    .filter((name) => existsSync(join(ROOT, 'lambdas', name, 'index.ts')))
    .sort();
}

/** Bundles one handler; returns the output file and its size in bytes (index.js alone). */
export async function bundleHandler(
  name: string,
  sdk: SdkMode,
  outDir = join(ROOT, 'dist', sdk),
  choices: Partial<BundleChoices> = {},
): Promise<{ outfile: string; bytes: number }> {
  const outfile = join(outDir, name, 'index.js');
  await build(
    esbuildOptions(join(ROOT, 'lambdas', name, 'index.ts'), outfile, {
      ...choices,
      bundleAwsSdk: sdk === 'bundled',
    }),
  );
  return { outfile, bytes: statSync(outfile).size };
}

async function main(): Promise<void> {
  const sdk: SdkMode = process.argv.includes('runtime') ? 'runtime' : 'bundled';
  const outDir = sdk === 'bundled' ? PREBUILT_DIR : join(ROOT, 'dist', 'runtime');
  rmSync(outDir, { recursive: true, force: true });
  for (const name of handlerNames()) {
    const { outfile, bytes } = await bundleHandler(name, sdk, outDir);
    console.log(`${name}: ${bytes} bytes (sdk ${sdk}) -> ${outfile}`);
  }
  if (sdk === 'bundled') {
    // The operators' command (`npx berth status`, bin/berth.js) ships bundled too: the package
    // has no runtime dependencies, so the CLI carries the SDK clients it uses.
    const outfile = join(outDir, 'cli', 'main.js');
    await build(esbuildOptions(join(ROOT, 'lambdas', 'cli', 'main.ts'), outfile, { bundleAwsSdk: true }));
    console.log(`cli: ${statSync(outfile).size} bytes -> ${outfile}`);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
