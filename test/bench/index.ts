/**
 * `npm run bench -- <name>`: benchmarks print one JSON line per measurement.
 * Each benchmark lives in test/bench/<name>.ts and exports `run(args: string[]): Promise<void>`.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { useLocalCloudEnv } from './local-env';

async function main(): Promise<void> {
  const [name, ...args] = process.argv.slice(2);
  const available = readdirSync(__dirname)
    .filter((f) => f.endsWith('.ts') && f !== 'index.ts' && !f.endsWith('.test.ts'))
    .map((f) => f.replace(/\.ts$/, ''));
  if (!name || !available.includes(name)) {
    console.error(
      `usage: npm run bench -- <name>  (available: ${available.length > 0 ? available.join(', ') : 'none yet; each arrives with its issue'})`,
    );
    process.exit(name ? 1 : 0);
  }
  useLocalCloudEnv();
  const file = join(__dirname, `${name}.ts`);
  if (!existsSync(file)) throw new Error(`no benchmark ${file}`);
  const bench = (await import(file)) as { run: (args: string[]) => Promise<void> };
  await bench.run(args);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
