/**
 * The package as a user gets it: `npm pack` (prepack builds lib/ and the prebuilt bundles), the
 * tarball installed into a fresh app folder, and the README's "Use it in your CDK app" block
 * type-checked against the shipped .d.ts and synthesized there. The app folder gets aws-cdk-lib
 * and constructs as links to this checkout's copies (what `npm ci` installed), so the test needs
 * no registry: the tarball itself has no dependencies to fetch.
 */
import { execFileSync } from 'node:child_process';
import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  realpathSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const ROOT = join(__dirname, '..', '..');
const HEADING = '## Use it in your CDK app';

/** The first ```ts block under the README's adoption heading: the one copy of the example. */
export function readmeExample(readme: string): string {
  const section = readme.slice(readme.indexOf(HEADING));
  const match = /```ts\n([\s\S]*?)\n```/.exec(section);
  if (readme.indexOf(HEADING) < 0 || !match?.[1])
    throw new Error(`README.md has no ts block under "${HEADING}"`);
  return `${match[1]}\n`;
}

let work: string;
let app: string;
let template: { Resources: Record<string, { Type: string; Properties: Record<string, unknown> }> };
let installed: string[];

const run = (command: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = {}) =>
  execFileSync(command, args, {
    cwd,
    env: { ...process.env, CDK_DISABLE_CLI_TELEMETRY: 'true', npm_config_update_notifier: 'false', ...env },
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  });

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'berth-pack-'));
  // prepack (npm run build) prints to stdout too: take the tarball from the folder, not the output.
  run('npm', ['pack', '--pack-destination', work], ROOT);
  const tarball = join(work, readdirSync(work).find((f) => f.endsWith('.tgz')) ?? 'missing.tgz');

  app = join(work, 'app');
  mkdirSync(app);
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'etcd-infra', private: true }));
  // The tarball has no dependencies; peers are the app's own (linked below), so nothing is fetched.
  run('npm', ['install', '--offline', '--no-audit', '--no-fund', '--legacy-peer-deps', tarball], app);
  for (const peer of ['aws-cdk-lib', 'constructs'])
    symlinkSync(realpathSync(join(ROOT, 'node_modules', peer)), join(app, 'node_modules', peer), 'dir');
  installed = readdirSync(join(app, 'node_modules')).filter((name) => !name.startsWith('.'));

  writeFileSync(join(app, 'app.ts'), readmeExample(readFileSync(join(ROOT, 'README.md'), 'utf8')));
  // The consumer's own TypeScript toolchain (here: this checkout's tsc and tsx, run from outside).
  run(
    process.execPath,
    [
      join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc'),
      '--noEmit',
      '--strict',
      '--skipLibCheck',
      '--types',
      'node',
      '--typeRoots',
      join(ROOT, 'node_modules', '@types'),
      '--module',
      'nodenext',
      '--target',
      'es2022',
      'app.ts',
    ],
    app,
  );
  run(process.execPath, [join(ROOT, 'node_modules', 'tsx', 'dist', 'cli.mjs'), 'app.ts'], app, {
    CDK_OUTDIR: join(app, 'cdk.out'),
  });
  template = JSON.parse(readFileSync(join(app, 'cdk.out', 'EtcdBerth.template.json'), 'utf8'));
}, 240_000);

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe('the packed library in a fresh app', () => {
  it('installs with nothing but its peers: no esbuild, no TypeScript, no SDK', () => {
    expect(installed.sort()).toEqual(['aws-cdk-lib', 'berth', 'constructs']);
    const files = readdirSync(join(app, 'node_modules', 'berth'), { recursive: true }) as string[];
    expect(files.filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining(['lib/infra/index.js', 'lib/infra/index.d.ts']));
  });

  it('synthesizes the README example: hooks on the imported group, rules on its name, four functions', () => {
    const ofType = (type: string) => Object.values(template.Resources).filter((r) => r.Type === type);
    expect(ofType('AWS::AutoScaling::LifecycleHook').map((r) => r.Properties)).toEqual([
      expect.objectContaining({
        AutoScalingGroupName: 'etcd-prod',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
        DefaultResult: 'ABANDON',
      }),
      expect.objectContaining({
        AutoScalingGroupName: 'etcd-prod',
        LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING',
        DefaultResult: 'CONTINUE',
      }),
    ]);
    expect(ofType('AWS::Lambda::Function')).toHaveLength(4);
    const settings = ofType('AWS::Lambda::Function').map(
      (r) => (r.Properties.Environment as { Variables: { BERTH_SETTINGS: string } }).Variables.BERTH_SETTINGS,
    );
    expect(JSON.parse(settings[0] ?? '{}')).toMatchObject({
      groupName: 'etcd-prod',
      filters: 'Env=prod,Service=etcd',
      mountPoint: '/var/lib/etcd',
      filesystem: 'xfs',
    });
    expect(JSON.stringify(ofType('AWS::Events::Rule'))).toContain('"AutoScalingGroupName":["etcd-prod"]');
  });

  it('deploys the prebuilt bundles of the package, byte for byte', () => {
    const assets = readdirSync(join(app, 'cdk.out')).filter((d) => d.startsWith('asset.'));
    const shipped = ['grow', 'launch', 'reconcile', 'terminate'].map((name) =>
      readFileSync(join(app, 'node_modules', 'berth', 'dist', 'lambdas', name, 'index.js'), 'utf8'),
    );
    const deployed = assets.map((d) => readFileSync(join(app, 'cdk.out', d, 'index.js'), 'utf8'));
    expect(deployed.sort()).toEqual(shipped.sort());
    for (const d of assets) expect(readdirSync(join(app, 'cdk.out', d))).toEqual(['index.js']);
  });

  it('gives operators the berth command, bundled, with nothing else installed', () => {
    // `npx berth` runs node_modules/.bin/berth: the packed CLI, which carries its SDK clients.
    const usage = run(process.execPath, [join(app, 'node_modules', '.bin', 'berth'), '--help'], app);
    expect(usage).toContain('usage: berth status --group NAME');
    expect(() => run(process.execPath, [join(app, 'node_modules', '.bin', 'berth'), 'status'], app)).toThrow(
      /--group is required/,
    );
  });
});
