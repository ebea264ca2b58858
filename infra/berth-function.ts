/**
 * The project's one wrapper for Lambda functions: runtime (Node.js 22), architecture (arm64),
 * timeout, memory, a log group with retention, source maps and the esbuild options
 * (infra/lambda-bundling.ts) are fixed here, so the four handlers cannot drift apart.
 */
import { AssetHashType, DockerImage, Duration, RemovalPolicy } from 'aws-cdk-lib';
import * as iam from 'aws-cdk-lib/aws-iam';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { buildSync } from 'esbuild';
import * as logs from 'aws-cdk-lib/aws-logs';
import type * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { join } from 'node:path';
import { SETTINGS_ENV } from '../lambdas/shared/config';
import { FUNCTION_DEFAULTS } from './defaults';
import { BUNDLE_AWS_SDK, esbuildOptions, handlerEntry, type HandlerName } from './lambda-bundling';

/** The project root (where package-lock.json lives). */
export const PROJECT_ROOT = join(__dirname, '..');

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
}

/**
 * The handler's code asset, bundled in process with esbuild's API and the options
 * `npm run build` uses (esbuildOptions). NodejsFunction would run the same esbuild through
 * `npx --no-install esbuild`, one npm start-up per handler; in process it is a fraction of that.
 * No Docker fallback: esbuild is a dev dependency, and a failed build fails the synthesis.
 */
export function handlerCode(handler: HandlerName): lambda.Code {
  return lambda.Code.fromAsset(join(PROJECT_ROOT, 'lambdas', handler), {
    assetHashType: AssetHashType.OUTPUT,
    bundling: {
      image: DockerImage.fromRegistry('esbuild-runs-locally'),
      local: {
        tryBundle(outputDir: string): boolean {
          buildSync(
            esbuildOptions(
              join(PROJECT_ROOT, handlerEntry(handler)),
              join(outputDir, 'index.js'),
              BUNDLE_AWS_SDK,
            ),
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
      code: handlerCode(props.handler),
      handler: 'index.handler',
      runtime: RUNTIME,
      architecture: ARCHITECTURE,
      timeout: Duration.seconds(defaults.timeoutSeconds),
      memorySize: defaults.memoryMiB,
      role: this.role,
      logGroup: this.logGroup,
      description: `berth: ${props.handler}`,
      // BERTH_SETTINGS carries all of berth's settings; NODE_OPTIONS only turns the source maps on.
      environment: { [SETTINGS_ENV]: props.settingsJson, NODE_OPTIONS: '--enable-source-maps' },
      deadLetterQueue: props.deadLetterQueue,
      retryAttempts: 2,
    });
  }
}
