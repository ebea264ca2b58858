/**
 * Bundles every handler under lambdas/<name>/index.ts into dist/<name>/index.js with esbuild, with
 * the options the CDK construct uses (infra/lambda-bundling.ts BUNDLE_OPTIONS).
 * `--sdk runtime` leaves @aws-sdk/* to the Lambda runtime's copy; the default bundles the pinned SDK.
 */
import { build } from 'esbuild';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { esbuildOptions } from '../infra/lambda-bundling';

export type SdkMode = 'bundled' | 'runtime';

export const ROOT = join(__dirname, '..');

export function handlerNames(): string[] {
  return readdirSync(join(ROOT, 'lambdas'))
    .filter((name) => existsSync(join(ROOT, 'lambdas', name, 'index.ts')))
    .sort();
}

/** Bundles one handler; returns the output file and its size in bytes. */
export async function bundleHandler(
  name: string,
  sdk: SdkMode,
  outDir = join(ROOT, 'dist', sdk),
): Promise<{ outfile: string; bytes: number }> {
  const outfile = join(outDir, name, 'index.js');
  // The construct ships a linked .map beside index.js; the size reported is index.js alone.
  await build(esbuildOptions(join(ROOT, 'lambdas', name, 'index.ts'), outfile, sdk === 'bundled'));
  return { outfile, bytes: statSync(outfile).size };
}

async function main(): Promise<void> {
  const sdk: SdkMode = process.argv.includes('runtime') ? 'runtime' : 'bundled';
  for (const name of handlerNames()) {
    const { outfile, bytes } = await bundleHandler(name, sdk);
    console.log(`${name}: ${bytes} bytes (sdk ${sdk}) -> ${outfile}`);
  }
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exit(1);
  });
}
