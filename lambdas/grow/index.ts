/**
 * The grow handler (entry point bundled by the infra). Two inputs:
 * - the EventBridge `CloudWatch Alarm State Change` event of one of this group's disk alarms, or
 *   of its predictive time-to-full alarms (state ALARM; anything else is ignored with a log line);
 * - a direct request `{ instanceId, sizeGiB?, reason?, requestId? }` from the SSM Automation
 *   document ("grow now", aws:invokeLambdaFunction), whose execution shows the returned JSON.
 * Parses and validates, then calls the core (lambdas/grow/core.ts).
 */
import { Metrics, MetricUnit } from '@aws-lambda-powertools/metrics';
import { instanceOfAlarm, instanceOfTimeToFullAlarm } from '../shared/alarms';
import { describeError } from '../shared/errors';
import { createLogger, runtimeDeps } from '../shared/runtime';
import { grow, type GrowResult, type RefusalSink, type Trigger } from './core';
import { EBS_MAX_VOLUME_GIB } from './policy';

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

interface LambdaContext {
  awsRequestId?: string;
}

interface AlarmEvent {
  'detail-type': 'CloudWatch Alarm State Change';
  detail: { alarmName?: unknown; state?: { value?: unknown; timestamp?: unknown } };
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isAlarmEvent(event: unknown): event is AlarmEvent {
  return (
    isObject(event) && event['detail-type'] === 'CloudWatch Alarm State Change' && isObject(event.detail)
  );
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

/** Refusals as the `GrowRefusals` metric (EMF, dimension Group). */
function refusalSink(namespace: string, group: string): RefusalSink {
  return {
    refusal(reason) {
      const metrics = new Metrics({ namespace, serviceName: 'berth-grow' });
      metrics.clearDefaultDimensions();
      metrics.addDimension('Group', group);
      metrics.addMetadata('reason', reason);
      metrics.addMetric('GrowRefusals', MetricUnit.Count, 1);
      metrics.publishStoredMetrics();
    },
  };
}

export async function handler(event: unknown, context?: LambdaContext): Promise<HandlerResult> {
  const deps = runtimeDeps(logger);
  const { settings } = deps;
  logger.resetKeys();
  const refusals = refusalSink(settings.metricsNamespace, settings.groupName);

  let instanceId: string;
  let trigger: Trigger;
  if (isAlarmEvent(event)) {
    const { alarmName, state } = event.detail;
    // The disk alarm, or the predictive (time-to-full) one: the same grow, the same dedupe.
    const owner =
      typeof alarmName === 'string'
        ? (instanceOfAlarm(settings, alarmName) ?? instanceOfTimeToFullAlarm(settings, alarmName))
        : undefined;
    if (!owner || typeof alarmName !== 'string') {
      logger.info('not one of this group’s alarms; ignored', { alarmName });
      return { grown: false, refused: 'ignored', reason: 'not one of this group’s alarms' };
    }
    if (state?.value !== 'ALARM' || typeof state.timestamp !== 'string') {
      logger.info('alarm state is not ALARM; ignored', { alarmName, state: state?.value });
      return {
        grown: false,
        instanceId: owner,
        refused: 'ignored',
        reason: `alarm state ${String(state?.value)}`,
      };
    }
    instanceId = owner;
    trigger = { kind: 'alarm', alarmName, stateTimestamp: state.timestamp };
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
    const result = await grow({ ...deps, refusals }, instanceId, trigger);
    logger.info('grow finished', { result });
    return result;
  } catch (error) {
    logger.error('grow failed', { error: describeError(error) });
    // An operator's request answers with the failure (the Automation execution shows it; a
    // RequestResponse invocation is not retried). An alarm's event throws: EventBridge's
    // asynchronous invocation retries it, then sends it to the rule's dead-letter queue.
    if (trigger.kind === 'manual') {
      return { grown: false, instanceId, refused: 'failed', reason: describeError(error).message };
    }
    throw error;
  }
}
