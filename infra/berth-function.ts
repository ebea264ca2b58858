/**
 * The project's one wrapper for Lambda functions: runtime (Node.js 22), architecture (arm64),
 * timeout, memory, a log group with retention, source maps and the esbuild options
 * (infra/lambda-bundling.ts) are fixed here, so the four handlers cannot drift apart.
 */
import { AssetHashType, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { SETTINGS_ENV } from '../lambdas/shared/config';
import { FUNCTION_DEFAULTS, type AsyncDelivery } from './defaults';
import { esbuildOptions, handlerEntry, type HandlerName } from './lambda-bundling';

/**
 * The package root: the nearest folder above this file with a package.json. In this repository
 * that is the checkout (infra/ is one level down); in the published package the compiled file
 * sits in lib/infra/, two levels down.
 */
function findPackageRoot(from: string): string {
  for (let dir = from; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) return join(from, '..');
  }
}

/** The project root (where package.json lives). */
export const PROJECT_ROOT = findPackageRoot(__dirname);

/** Where `npm run build` puts the prebuilt bundles (dist/lambdas/<name>/index.js), shipped in the package. */
export const PREBUILT_BUNDLES_DIR = join(PROJECT_ROOT, 'dist', 'lambdas');

export const RUNTIME = lambda.Runtime.NODEJS_22_X;
export const ARCHITECTURE = lambda.Architecture.ARM_64;

export interface BerthFunctionProps {
  readonly handler: HandlerName;
  /** The group settings JSON (BERTH_SETTINGS). */
  readonly settingsJson: string;
  /** Days of log retention. */
  readonly logRetention: logs.RetentionDays;
  /** Queue for asynchronous invocations that failed every retry. */
  readonly deadLetterQueue: sqs.IQueue;
  /**
   * Ship an external source map and run with `--enable-source-maps` (stack traces name our
   * TypeScript lines; the asset grows by the map and Node parses it at start). Only when bundling
   * from source: the prebuilt bundles carry no map.
   * @default false
   */
  readonly sourceMaps?: boolean;
  /** How long an asynchronous event is worth delivering, and the retries of a failed run. */
  readonly asyncDelivery: Pick<AsyncDelivery, 'maxEventAgeSeconds' | 'retryAttempts'>;
  /**
   * Concurrent executions reserved for the function (and its ceiling).
   * @default - none: the account's unreserved pool
   */
  readonly reservedConcurrency?: number;
}

/** Where a handler's code comes from: this repository's sources, or the package's prebuilt bundle. */
export type CodeSource = { kind: 'source'; entry: string } | { kind: 'prebuilt'; dir: string };

/**
 * Sources win when they are present (a checkout of this repository: a prebuilt bundle there may be
 * stale); the published package ships no sources, only dist/lambdas/<name>/index.js.
 */
export function codeSource(handler: HandlerName, root: string = PROJECT_ROOT): CodeSource {
  const entry = join(root, handlerEntry(handler));
  if (existsSync(entry)) return { kind: 'source', entry };
  const dir = join(root, 'dist', 'lambdas', handler);
  if (existsSync(join(dir, 'index.js'))) return { kind: 'prebuilt', dir };
  throw new Error(
    `berth: no code for the ${handler} function: neither ${entry} nor ${join(dir, 'index.js')} exists; ` +
      'reinstall the package, or run `npm run build` in a checkout of berth',
  );
}

/**
 * The handler's code asset. In the published package: the prebuilt bundle as it is (no esbuild,
 * no TypeScript at the consumer's synth). In this repository: bundled in process with esbuild's API
 * and the options `npm run build` uses (esbuildOptions). NodejsFunction would run the same esbuild
 * through `npx --no-install esbuild`, one npm start-up per handler; in process it is a fraction of
 * that. esbuild is loaded only here, so the package does not need it at run time.
 */
export function handlerCode(handler: HandlerName, options: { sourceMaps?: boolean } = {}): lambda.Code {
  const source = codeSource(handler);
  if (source.kind === 'prebuilt') return lambda.Code.fromAsset(source.dir);
  return lambda.Code.fromAsset(dirname(source.entry), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('esbuild-runs-locally'),
      local: {
        tryBundle(outputDir: string): boolean {
          // eslint-disable-next-line @typescript-eslint/no-require-imports
          const esbuild = require('esbuild') as typeof import('esbuild');
          esbuild.buildSync(
            esbuildOptions(source.entry, join(outputDir, 'index.js'), {
              sourceMaps: options.sourceMaps === true,
            }),
          );
          return true;
        },
      },
    },
  });
}

/**
 * One berth handler with its own role (only the log group is granted here; the group construct
 * adds the statements of the handler's capabilities).
 */
export class BerthFunction extends Construct {
  public readonly function: lambda.Function;
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: BerthFunctionProps) {
    super(scope, id);
    const defaults = FUNCTION_DEFAULTS[props.handler];
    const sourceMaps = props.sourceMaps === true && codeSource(props.handler).kind === 'source';
    this.logGroup = new logs.LogGroup(this, 'Logs', {
      retention: props.logRetention,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    // A role of our own instead of AWSLambdaBasicExecutionRole: logs only to this function's group.
    this.role = new iam.Role(this, 'Role', {
      assumedBy: new iam.ServicePrincipal('lambda.amazonaws.com'),
      description: `berth ${props.handler} function`,
    });
    this.role.addToPolicy(
      new iam.PolicyStatement({
        sid: 'WriteOwnLogs',
        actions: ['logs:CreateLogStream', 'logs:PutLogEvents'],
        resources: [this.logGroup.logGroupArn],
      }),
    );
    this.function = new lambda.Function(this, 'Function', {
      code: handlerCode(props.handler, { sourceMaps: sourceMaps }),
      handler: 'index.handler',
      runtime: RUNTIME,
      architecture: ARCHITECTURE,
      timeout: Duration.seconds(defaults.timeoutSeconds),
      memorySize: defaults.memoryMiB,
      role: this.role,
      logGroup: this.logGroup,
      description: `berth: ${props.handler}`,
      // BERTH_SETTINGS carries all of berth's settings; NODE_OPTIONS only turns the source maps on.
      environment: {
        [SETTINGS_ENV]: props.settingsJson,
        ...(sourceMaps ? { NODE_OPTIONS: '--enable-source-maps' } : {}),
      },
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: props.asyncDelivery.retryAttempts,
      maxEventAge: Duration.seconds(props.asyncDelivery.maxEventAgeSeconds),
      ...(props.reservedConcurrency !== undefined
        ? { reservedConcurrentExecutions: props.reservedConcurrency }
        : {}),
    });
  }
}
