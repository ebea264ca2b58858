import type { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import type { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import type { EC2Client } from '@aws-sdk/client-ec2';
import type { SSMClient } from '@aws-sdk/client-ssm';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Clock } from './clock';
import type { Settings } from './config';

/** What every core function receives: injected clients, logger, clock and the group's settings. */
export interface Deps {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  cloudWatch: CloudWatchClient;
  logger: Logger;
  clock: Clock;
  settings: Settings;
  /**
   * Epoch ms by which this invocation's waits must end (Lambda's remaining time minus the margin
   * the handler keeps to finish or hand over); no bound when absent.
   */
  deadline?: number;
}
