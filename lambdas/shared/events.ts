/**
 * EventBridge lifecycle events: parsed and validated before any AWS call, so a malformed event is
 * rejected with a message that names the field (and is not retried forever).
 */

export const LAUNCH_DETAIL_TYPE = 'EC2 Instance-launch Lifecycle Action';
export const TERMINATE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';
export const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';
export const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';

/** The lifecycle action a handler works on. */
export interface LifecycleAction {
  groupName: string;
  hookName: string;
  instanceId: string;
  token: string;
  transition: typeof LAUNCHING | typeof TERMINATING;
  /** EventBridge event id (duplicates share it). */
  eventId: string;
  /** Warm pools: where the instance comes from / goes to (`EC2`, `AutoScalingGroup`, `WarmPool`). */
  origin?: string;
  destination?: string;
}

export class InvalidEventError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'InvalidEventError';
  }
}

const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;
const TOKEN = /^[0-9A-Za-z-]{16,64}$/;

function str(record: Record<string, unknown>, key: string, field: string, pattern?: RegExp): string {
  const value = record[key];
  if (typeof value !== 'string' || value === '' || (pattern && !pattern.test(value))) {
    throw new InvalidEventError(
      field,
      `missing or malformed (got ${JSON.stringify(value)?.slice(0, 80)}); the rule must deliver Auto Scaling lifecycle events unchanged`,
    );
  }
  return value;
}

function optional(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === 'string' && value !== '' ? value : undefined;
}

/**
 * Parses a lifecycle event of the expected detail-type (`launch` or `terminate`). Throws
 * InvalidEventError naming the field.
 */
export function parseLifecycleEvent(event: unknown, kind: 'launch' | 'terminate'): LifecycleAction {
  if (typeof event !== 'object' || event === null) throw new InvalidEventError('event', 'is not an object');
  const e = event as Record<string, unknown>;
  const detailType = kind === 'launch' ? LAUNCH_DETAIL_TYPE : TERMINATE_DETAIL_TYPE;
  if (e['detail-type'] !== detailType) {
    throw new InvalidEventError(
      'detail-type',
      `expected "${detailType}" (got ${JSON.stringify(e['detail-type'])}); check the EventBridge rule of this function`,
    );
  }
  if (e.source !== undefined && e.source !== 'aws.autoscaling') {
    throw new InvalidEventError('source', `expected "aws.autoscaling" (got ${JSON.stringify(e.source)})`);
  }
  const detail = e.detail;
  if (typeof detail !== 'object' || detail === null) throw new InvalidEventError('detail', 'is missing');
  const d = detail as Record<string, unknown>;
  const transition = str(d, 'LifecycleTransition', 'detail.LifecycleTransition');
  const expected = kind === 'launch' ? LAUNCHING : TERMINATING;
  if (transition !== expected) {
    throw new InvalidEventError('detail.LifecycleTransition', `expected ${expected} (got ${transition})`);
  }
  const origin = optional(d, 'Origin');
  const destination = optional(d, 'Destination');
  return {
    groupName: str(d, 'AutoScalingGroupName', 'detail.AutoScalingGroupName'),
    hookName: str(d, 'LifecycleHookName', 'detail.LifecycleHookName'),
    instanceId: str(d, 'EC2InstanceId', 'detail.EC2InstanceId', INSTANCE_ID),
    token: str(d, 'LifecycleActionToken', 'detail.LifecycleActionToken', TOKEN),
    transition: expected,
    eventId: typeof e.id === 'string' ? e.id : '',
    ...(origin ? { origin } : {}),
    ...(destination ? { destination } : {}),
  };
}

/** Whether a scheduled (reconcile) event looks like one; any object is accepted. */
export function isScheduledEvent(event: unknown): boolean {
  return (
    typeof event === 'object' &&
    event !== null &&
    (event as Record<string, unknown>)['detail-type'] === 'Scheduled Event'
  );
}

/** EventBridge's detail-type for CloudWatch alarm state changes. */
export const ALARM_STATE_CHANGE = 'CloudWatch Alarm State Change';

/** One alarm state change, whichever way it arrived. */
export interface AlarmStateChange {
  alarmName: string;
  /** `ALARM`, `OK` or `INSUFFICIENT_DATA`. */
  state: string;
  /**
   * When the alarm entered this state, as an ISO-8601 UTC instant: the identity of the state change
   * (with the alarm's name), the same whichever way it arrived.
   */
  stateTimestamp: string;
  via: 'eventbridge' | 'alarm-action';
}

function record(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** CloudWatch writes `2019-10-02T17:04:40.985+0000`; any form Date.parse reads becomes one ISO string. */
function instant(value: unknown, field: string): string {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidEventError(field, `is not a timestamp (got ${JSON.stringify(value)?.slice(0, 80)})`);
  }
  return new Date(ms).toISOString();
}

/**
 * Parses an alarm state change from either delivery:
 * - the EventBridge event (`detail-type` "CloudWatch Alarm State Change", `detail.alarmName`,
 *   `detail.state.{value,timestamp}`; CloudWatch user guide, "Alarm events and EventBridge");
 * - the payload of a Lambda alarm action (`source` "aws.cloudwatch", `alarmArn`,
 *   `alarmData.alarmName`, `alarmData.state.{value,timestamp}`; CloudWatch user guide, "Invoke a
 *   Lambda function from an alarm").
 * Returns undefined for an event of neither shape; throws InvalidEventError naming a malformed field.
 */
export function parseAlarmStateChange(event: unknown): AlarmStateChange | undefined {
  const e = record(event);
  if (!e) return undefined;
  let body: Record<string, unknown> | undefined;
  let prefix: string;
  let via: AlarmStateChange['via'];
  if (e['detail-type'] === ALARM_STATE_CHANGE) {
    body = record(e.detail);
    prefix = 'detail';
    via = 'eventbridge';
  } else if (e.source === 'aws.cloudwatch' && typeof e.alarmArn === 'string' && 'alarmData' in e) {
    body = record(e.alarmData);
    prefix = 'alarmData';
    via = 'alarm-action';
  } else {
    return undefined;
  }
  if (!body) throw new InvalidEventError(prefix, 'is missing');
  const alarmName = str(body, 'alarmName', `${prefix}.alarmName`);
  const state = record(body.state);
  if (!state) throw new InvalidEventError(`${prefix}.state`, 'is missing');
  return {
    alarmName,
    state: str(state, 'value', `${prefix}.state.value`),
    stateTimestamp: instant(state.timestamp, `${prefix}.state.timestamp`),
    via,
  };
}
