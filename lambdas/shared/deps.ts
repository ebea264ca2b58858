import type { AwsClients } from '../aws/clients';
import type { Logger } from '@aws-lambda-powertools/logger';
import type { Clock } from './clock';
import type { Settings } from './config';

/** What every core function receives: injected clients, logger, clock and the group's settings. */
export interface Deps extends AwsClients {
  logger: Logger;
  clock: Clock;
  settings: Settings;
  /**
   * Epoch ms by which this invocation's waits must end (Lambda's remaining time minus the margin
   * the handler keeps to finish or hand over); no bound when absent.
   */
  deadline?: number;
  /**
   * Epoch ms by which the calls that end a step cut at `deadline` must be done (an undo's detaches
   * and their waits); after `deadline`, before the invocation ends. None: `deadline` bounds them.
   */
  finishBy?: number;
}
