/**
 * Bundles every handler under lambdas/<name>/index.ts into dist/<name>/index.js with esbuild,
 * the same options the CDK construct uses (see infra/lambda-bundling.ts once it exists).
 */
import { build } from 'esbuild';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

async function main(): Promise<void> {
  const root = join(__dirname, '..');
  const handlers = readdirSync(join(root, 'lambdas')).filter((name) =>
    existsSync(join(root, 'lambdas', name, 'index.ts')),
  );
  for (const name of handlers) {
    const outfile = join(root, 'dist', name, 'index.js');
    await build({
      entryPoints: [join(root, 'lambdas', name, 'index.ts')],
      bundle: true,
      platform: 'node',
      target: 'node22',
      format: 'cjs',
      minify: true,
      sourcemap: true,
      outfile,
      logLevel: 'warning',
    });
    console.log(`${name}: ${statSync(outfile).size} bytes -> ${outfile}`);
  }
  if (handlers.length === 0) console.log('no handlers yet (lambdas/<name>/index.ts)');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
