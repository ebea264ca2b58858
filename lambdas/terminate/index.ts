/** The terminate handler: `EC2 Instance-terminate Lifecycle Action` → terminateNode. */
import { invocationDeadline } from '../shared/deadlines';
import { describeError } from '../shared/errors';
import { InvalidEventError, parseLifecycleEvent } from '../shared/events';
import type { Context } from 'aws-lambda';
import { beginInvocation, createLogger, runtimeDeps } from '../shared/runtime';
import { terminateNode, type TerminateOutcome } from './core';

const logger = createLogger('terminate');

export type TerminateHandlerResult = TerminateOutcome | { result: 'rejected'; reason: string };

export async function handler(event: unknown, context?: Partial<Context>): Promise<TerminateHandlerResult> {
  beginInvocation(logger, context);
  let action;
  try {
    action = parseLifecycleEvent(event, 'terminate');
  } catch (error) {
    if (!(error instanceof InvalidEventError)) throw error;
    logger.error('malformed terminate event rejected', { error: describeError(error), field: error.field });
    return { result: 'rejected', reason: error.message };
  }
  logger.appendKeys({ instanceId: action.instanceId, lifecycleActionToken: action.token });
  const deps = runtimeDeps(logger);
  if (action.groupName !== deps.settings.groupName) {
    logger.error('terminate event of another group rejected', {
      eventGroup: action.groupName,
      fix: `the EventBridge rule of this function must match AutoScalingGroupName ${deps.settings.groupName}`,
    });
    return { result: 'rejected', reason: `group ${action.groupName} is not ${deps.settings.groupName}` };
  }
  const deadline = invocationDeadline(deps.clock.now(), context);
  const outcome = await terminateNode(deps, action, deadline !== undefined ? { deadline } : {});
  logger.info('terminate finished', { ...outcome });
  return outcome;
}
