/**
 * The SDK clients berth's Lambdas and CLI use, built in one place with one retry policy
 * (lambdas/aws/retry.ts): the SDK's standard strategy with MAX_ATTEMPTS attempts per call for
 * every service, and a per-operation rule where a call cannot be sent twice safely. No call site
 * adds retries of its own; waits for a state (an instance booting, a volume detaching) are the
 * caller's poll (lambdas/shared/poll.ts).
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { BerthRetryStrategy, MAX_ATTEMPTS, withOperationNames } from './retry';

export { MAX_ATTEMPTS } from './retry';

// A type, not an interface: callers index it as a record of clients.
export type AwsClients = {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  cloudWatch: CloudWatchClient;
};

export interface ClientOptions {
  region?: string;
  /** Overrides MAX_ATTEMPTS (tests of the retry itself). */
  maxAttempts?: number;
}

/** One client per service, each with its own strategy (the retry quota is per client). */
export function createClients(options: ClientOptions = {}): AwsClients {
  const region = options.region !== undefined ? { region: options.region } : {};
  const maxAttempts = options.maxAttempts ?? MAX_ATTEMPTS;
  const config = () => ({ retryStrategy: new BerthRetryStrategy(maxAttempts), ...region });
  return {
    ec2: withOperationNames(new EC2Client(config())),
    autoScaling: withOperationNames(new AutoScalingClient(config())),
    ssm: withOperationNames(new SSMClient(config())),
    cloudWatch: withOperationNames(new CloudWatchClient(config())),
  };
}
