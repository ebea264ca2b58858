/**
 * `npm run bench -- <name> [options]`: benchmarks print one JSON line per measurement.
 * Each benchmark lives in test/bench/<name>.ts and exports `run(args: string[]): Promise<void>`;
 * it reads its options with `benchArgs` (test/bench/args.ts), so `npm run bench -- <name> --help`
 * lists them. The other modules here (args, local-env) are helpers, not benchmarks.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { BenchArgsError } from './args';
import { useLocalCloudEnv } from './local-env';

const HELPERS = new Set(['index', 'args', 'local-env']);

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const available = readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
    .map((f) => f.replace(/\.ts$/, ''))
    .filter((f) => !HELPERS.has(f));
  if (!name || name === '--help' || name === '-h' || !available.includes(name)) {
    const usage = `usage: npm run bench -- <name> [options]  (available: ${available.join(', ')}; <name> --help lists its options)`;
    if (!name || name === '--help' || name === '-h') {
      console.log(usage);
      return;
    }
    throw new BenchArgsError(`unknown benchmark '${name}'; ${usage}`);
  }
  useLocalCloudEnv();
  const file = join(__dirname, `${name}.ts`);
  if (!existsSync(file)) throw new Error(`no benchmark ${file}`);
  const bench = (await import(file)) as { run: (args: string[]) => Promise<void> };
  await bench.run(args);
}

main().catch((error: unknown) => {
  // A bad command line is said in one line; anything else keeps its stack.
  if (error instanceof Error && error.name === 'BenchArgsError') {
    console.error(error.message);
    process.exit(2);
  }
  console.error(error);
  process.exit(1);
});
