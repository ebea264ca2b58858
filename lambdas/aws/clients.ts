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
 * Attempts per call: the standard mode's 3 for now. The launch-owned modules still wrap their
 * calls in `retrying()` (8 tries on the injected clock on top of these), and with 8 SDK attempts
 * under them the fault campaign (test/e2e/faults.test.ts, seed 2, no host failures) sends
 * prepare-node twice at once to one instance: two runs pass `waitForInFlight` in
 * lambdas/shared/ssm.ts at the same virtual instant, a check-then-send race that the retries'
 * timing exposes. Raise this (8: 0.3^8 ≈ 7e-5 of calls fail at 30 % throttling) when `retrying()`
 * is gone and that race is closed; the flows are idempotent and re-driven (EventBridge's retries,
 * the reconciler) meanwhile.
 */
export const MAX_ATTEMPTS = 3;

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
  const config = {
    maxAttempts: options.maxAttempts ?? MAX_ATTEMPTS,
    ...(options.region !== undefined ? { region: options.region } : {}),
  };
  return {
    ec2: new EC2Client(config),
    autoScaling: new AutoScalingClient(config),
    ssm: new SSMClient(config),
    cloudWatch: new CloudWatchClient(config),
  };
}
