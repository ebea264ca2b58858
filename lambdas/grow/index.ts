/**
 * The grow handler (entry point bundled by the infra). Three inputs (the disk alarm, or the
 * node's predictive time-to-full alarm, take the same path and the same dedupe):
 * - the payload of a disk alarm's Lambda alarm action (the alarm invokes this function on ALARM);
 * - the EventBridge `CloudWatch Alarm State Change` event of the same alarm (the grow rule). Both
 *   name the same state change by alarm name and state timestamp, so the grow's ClientToken, and
 *   the volume it creates, are the same whichever arrives first or if both arrive;
 *   a state other than ALARM, or another group's alarm, is ignored with a log line;
 * - a direct request `{ instanceId, sizeGiB?, reason?, requestId? }` from the SSM Automation
 *   document ("grow now", aws:invokeLambdaFunction), whose execution shows the returned JSON.
 * Parses and validates, then calls the core (lambdas/grow/core.ts).
 */
import { instanceOfAlarm, instanceOfTimeToFullAlarm, useOwnArnAsGrowAction } from '../shared/alarm-names';
import { describeError } from '../shared/errors';
import { InvalidEventError, parseAlarmStateChange, type AlarmStateChange } from '../shared/events';
import { countEvent } from '../shared/metrics';
import type { Context } from 'aws-lambda';
import { HANDOVER_SECONDS, invocationDeadline } from '../shared/deadlines';
import { endingBefore } from '../shared/poll';
import { beginInvocation, createLogger, runtimeDeps } from '../shared/runtime';
import { grow, type GrowResult, type RefusalSink, type Trigger } from './core';
import { EBS_MAX_VOLUME_GIB } from '../domain/growth-policy';

const logger = createLogger('grow');
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

export type HandlerResult =
  | GrowResult
  | {
      grown: false;
      instanceId?: string;
      volumeId?: undefined;
      sizeGiB?: undefined;
      refused: 'ignored' | 'invalid-request';
      reason: string;
    };

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{instanceId, sizeGiB?, reason?, requestId?}`; Automation passes every value as a string. */
export function parseRequest(
  event: Record<string, unknown>,
  fallbackRequestId: string,
): { instanceId: string; trigger: Trigger } | { error: string } {
  const instanceId = event.instanceId;
  if (typeof instanceId !== 'string' || !INSTANCE_ID.test(instanceId)) {
    return {
      error: `instanceId must be an EC2 instance id such as i-0123456789abcdef0 (got ${JSON.stringify(instanceId)})`,
    };
  }
  let sizeGiB: number | undefined;
  const rawSize = event.sizeGiB;
  if (rawSize !== undefined && rawSize !== null && rawSize !== '' && rawSize !== 0 && rawSize !== '0') {
    const n = typeof rawSize === 'string' && /^\d+$/.test(rawSize) ? Number(rawSize) : rawSize;
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > EBS_MAX_VOLUME_GIB) {
      return {
        error: `sizeGiB must be a whole number of GiB from 1 to ${EBS_MAX_VOLUME_GIB}, or empty for the policy's size (got ${JSON.stringify(rawSize)})`,
      };
    }
    sizeGiB = n;
  }
  const reason = event.reason ?? 'manual grow';
  if (typeof reason !== 'string' || reason.length > 256) {
    return { error: 'reason must be a text of at most 256 characters' };
  }
  const requestId = event.requestId ?? fallbackRequestId;
  if (typeof requestId !== 'string' || !REQUEST_ID.test(requestId)) {
    return { error: `requestId must be 1–128 letters, digits or ._:- (got ${JSON.stringify(requestId)})` };
  }
  return {
    instanceId,
    trigger: {
      kind: 'manual',
      requestId,
      reason: reason || 'manual grow',
      ...(sizeGiB !== undefined ? { sizeGiB } : {}),
    },
  };
}

/** Refusals as the `GrowRefusals` metric (EMF, dimension Group, the reason as metadata). */
function refusalSink(settings: { metricsNamespace: string; groupName: string }): RefusalSink {
  return {
    refusal(reason) {
      countEvent(settings, 'growRefusals', { reason });
    },
  };
}

export async function handler(event: unknown, context?: Partial<Context>): Promise<HandlerResult> {
  useOwnArnAsGrowAction(context?.invokedFunctionArn);
  const deps = runtimeDeps(logger);
  const { settings } = deps;
  beginInvocation(logger, context);
  const refusals = refusalSink(settings);

  let instanceId: string;
  let trigger: Trigger;
  let change: AlarmStateChange | undefined;
  try {
    change = parseAlarmStateChange(event);
  } catch (error) {
    if (!(error instanceof InvalidEventError)) throw error;
    // Retrying a malformed event cannot help: log it and return.
    logger.error('malformed alarm state change rejected', {
      error: describeError(error),
      field: error.field,
    });
    return { grown: false, refused: 'invalid-request', reason: error.message };
  }
  if (change) {
    const { alarmName, state, stateTimestamp, via } = change;
    const owner = instanceOfAlarm(settings, alarmName) ?? instanceOfTimeToFullAlarm(settings, alarmName);
    if (!owner) {
      logger.info('not one of this group’s alarms; ignored', { alarmName, via });
      return { grown: false, refused: 'ignored', reason: 'not one of this group’s alarms' };
    }
    if (state !== 'ALARM') {
      logger.info('alarm state is not ALARM; ignored', { alarmName, state, via });
      return { grown: false, instanceId: owner, refused: 'ignored', reason: `alarm state ${state}` };
    }
    instanceId = owner;
    trigger = { kind: 'alarm', alarmName, stateTimestamp };
    logger.appendKeys({ via });
  } else if (isObject(event) && 'instanceId' in event) {
    const parsed = parseRequest(event, context?.awsRequestId ?? `t${deps.clock.now()}`);
    if ('error' in parsed) {
      logger.warn('invalid grow request', { error: parsed.error });
      return { grown: false, refused: 'invalid-request', reason: parsed.error };
    }
    ({ instanceId, trigger } = parsed);
  } else {
    logger.info('neither an alarm state change nor a grow request; ignored');
    return { grown: false, refused: 'ignored', reason: 'neither an alarm state change nor a grow request' };
  }

  logger.appendKeys({ instanceId, trigger: trigger.kind });
  try {
    // Every wait ends HANDOVER_SECONDS.grow before the invocation's deadline; a grow cut there
    // leaves its volume tagged for the reconciler, which settles it (lambdas/shared/growth-reconcile.ts).
    const end = invocationDeadline(deps.clock.now(), context);
    const bounded = endingBefore(deps, end, HANDOVER_SECONDS.grow * 1000);
    const result = await grow({ ...bounded, refusals }, instanceId, trigger);
    logger.info('grow finished', { result });
    if (result.grown) countEvent(settings, 'grows', { mode: result.mode ?? 'add-device' });
    return result;
  } catch (error) {
    logger.error('grow failed', { error: describeError(error) });
    countEvent(settings, 'growFailures');
    // An operator's request answers with the failure (the Automation execution shows it; a
    // RequestResponse invocation is not retried). An alarm's event throws: EventBridge's
    // asynchronous invocation retries it, then sends it to the rule's dead-letter queue.
    if (trigger.kind === 'manual') {
      return { grown: false, instanceId, refused: 'failed', reason: describeError(error).message };
    }
    throw error;
  }
}
