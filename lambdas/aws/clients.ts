/**
 * The SDK clients berth's Lambdas and CLI use, built in one place with the SDK's own retry
 * strategy: the standard mode (exponential backoff with jitter, throttling told apart from
 * transient errors, a retry quota) with MAX_ATTEMPTS attempts per call. That replaces the
 * hand-written `retrying()` wrapper in the AWS layer; the launch-owned modules keep it until they
 * move here.
 *
 * Not the adaptive mode: its client-side rate limiter sleeps on wall-clock timers after the first
 * throttle (0.5 request/s at its floor), which a 15-minute Lambda can afford but which cannot be
 * replaced by the local cloud's retry-delay hook, so fault campaigns would run in real time.
 * The operator can still choose it per function with AWS_RETRY_MODE=adaptive (the SDK reads it).
 */
import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';

/**
 * Attempts per call (1 + 7 retries). Fault campaigns throttle 20-30 % of calls: 0.3^8 ≈ 7e-5 of
 * calls still fail after all attempts, and the flows treat that as a retryable step failure.
 */
export const MAX_ATTEMPTS = 8;

/**
 * The SSM client makes no retries of its own: every SSM call of the Lambdas goes through
 * `retrying()` (lambdas/aws/calls.ts), which decides per call what is safe to send again.
 * SendCommand is sent again only after throttling: the SDK's standard mode also retries server
 * errors, which may come after the command went out, and a retried SendCommand ran prepare-node
 * twice at once (fault campaign soak, seed 8). The CLI, which sends no command, keeps
 * MAX_ATTEMPTS (`createClients({ maxAttempts })`).
 */
export const SSM_MAX_ATTEMPTS = 1;

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

/** One client per service, each with berth's retry settings. */
export function createClients(options: ClientOptions = {}): AwsClients {
  const region = options.region !== undefined ? { region: options.region } : {};
  const config = { maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS, ...region };
  return {
    ec2: new EC2Client(config),
    autoScaling: new AutoScalingClient(config),
    ssm: new SSMClient({ maxAttempts: options.maxAttempts ?? SSM_MAX_ATTEMPTS, ...region }),
    cloudWatch: new CloudWatchClient(config),
  };
}
