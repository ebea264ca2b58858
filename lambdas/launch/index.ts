/** The launch handler: `EC2 Instance-launch Lifecycle Action` → launchNode. */
import type { Context } from 'aws-lambda';
import { invocationDeadline } from '../shared/deadlines';
import { describeError } from '../shared/errors';
import { InvalidEventError, parseLifecycleEvent } from '../shared/events';
import { countEvent } from '../shared/metrics';
import { beginInvocation, createLogger, runtimeDeps } from '../shared/runtime';
import { launchNode, type LaunchOutcome } from './core';

const logger = createLogger('launch');

export type LaunchHandlerResult = LaunchOutcome | { result: 'rejected'; reason: string };

export async function handler(event: unknown, context?: Partial<Context>): Promise<LaunchHandlerResult> {
  beginInvocation(logger, context);
  let action;
  try {
    action = parseLifecycleEvent(event, 'launch');
  } catch (error) {
    if (!(error instanceof InvalidEventError)) throw error;
    // Retrying a malformed event cannot help: log it and return.
    logger.error('malformed launch event rejected', { error: describeError(error), field: error.field });
    return { result: 'rejected', reason: error.message };
  }
  logger.appendKeys({ instanceId: action.instanceId, lifecycleActionToken: action.token });
  const deps = runtimeDeps(logger);
  if (action.groupName !== deps.settings.groupName) {
    logger.error('launch event of another group rejected', {
      eventGroup: action.groupName,
      fix: `the EventBridge rule of this function must match AutoScalingGroupName ${deps.settings.groupName}`,
    });
    return { result: 'rejected', reason: `group ${action.groupName} is not ${deps.settings.groupName}` };
  }
  const deadline = invocationDeadline(deps.clock.now(), context);
  const outcome = await launchNode(deps, action, deadline !== undefined ? { deadline } : {});
  logger.info('launch finished', { ...outcome });
  if (outcome.result === 'abandoned')
    countEvent(deps.settings, 'launchesAbandoned', { reason: outcome.reason.slice(0, 256) });
  return outcome;
}
