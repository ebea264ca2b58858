/**
 * EventBridge lifecycle events: parsed and validated before any AWS call, so a malformed event is
 * rejected with a message that names the field (and is not retried forever).
 */

// zod/mini: the tree-shakable build (the classic one adds ~460 kB to each bundle).
import * as z from 'zod/mini';

export const LAUNCH_DETAIL_TYPE = 'EC2 Instance-launch Lifecycle Action';
export const TERMINATE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';
export const LAUNCHING = 'autoscaling:EC2_INSTANCE_LAUNCHING';
export const TERMINATING = 'autoscaling:EC2_INSTANCE_TERMINATING';

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

const shown = (value: unknown) => JSON.stringify(value)?.slice(0, 80);

/** A required, non-empty string (matching `pattern`): else the one "missing or malformed" line. */
function required(pattern?: RegExp, events = 'Auto Scaling lifecycle events') {
  const malformed = (issue: { input?: unknown }) =>
    `missing or malformed (got ${shown(issue.input)}); the rule must deliver ${events} unchanged`;
  const text = z.string({ error: malformed });
  return pattern
    ? text.check(z.minLength(1, { error: malformed }), z.regex(pattern, { error: malformed }))
    : text.check(z.minLength(1, { error: malformed }));
}

/** An optional string: absent, empty or not a string all read as absent (never an error). */
const optionalText = z.pipe(
  z.optional(z.unknown()),
  z.transform((v) => (typeof v === 'string' && v !== '' ? v : undefined)),
);

/** The first issue as berth's one-line error: the field (its path) and the message. */
function invalid(error: z.core.$ZodError, root: string): InvalidEventError {
  const issue = error.issues[0];
  const field = issue && issue.path.length > 0 ? issue.path.join('.') : root;
  return new InvalidEventError(field, issue?.message ?? 'is invalid');
}

/**
 * One lifecycle event schema per kind (EventBridge "EC2 Instance-launch/terminate Lifecycle
 * Action", Amazon EC2 Auto Scaling User Guide); the action a handler works on is derived from it.
 */
function lifecycleSchema(kind: 'launch' | 'terminate') {
  const detailType = kind === 'launch' ? LAUNCH_DETAIL_TYPE : TERMINATE_DETAIL_TYPE;
  const expected = kind === 'launch' ? LAUNCHING : TERMINATING;
  return z.pipe(
    z.object(
      {
        'detail-type': z.literal(detailType, {
          error: (issue) =>
            `expected "${detailType}" (got ${JSON.stringify(issue.input)}); check the EventBridge rule of this function`,
        }),
        source: z.optional(
          z.literal('aws.autoscaling', {
            error: (issue) => `expected "aws.autoscaling" (got ${JSON.stringify(issue.input)})`,
          }),
        ),
        detail: z.object(
          {
            LifecycleTransition: required().check(
              z.refine((t) => t === expected, {
                error: (issue) => `expected ${expected} (got ${String(issue.input)})`,
              }),
            ),
            AutoScalingGroupName: required(),
            LifecycleHookName: required(),
            EC2InstanceId: required(INSTANCE_ID),
            LifecycleActionToken: required(TOKEN),
            /** Warm pools: where the instance comes from / goes to (`EC2`, `AutoScalingGroup`, `WarmPool`). */
            Origin: optionalText,
            Destination: optionalText,
          },
          { error: 'is missing' },
        ),
        /**
         * When the lifecycle action began (the EventBridge envelope's `time`: the event's
         * occurrence; EventBridge user guide, "Amazon EventBridge events"). A retried invocation
         * reads from it how long the hook has been waiting.
         */
        time: optionalText,
        /** EventBridge event id (duplicates share it). */
        id: z.pipe(
          z.optional(z.unknown()),
          z.transform((v) => (typeof v === 'string' ? v : '')),
        ),
      },
      { error: 'is not an object' },
    ),
    z.transform(({ detail: d, id, time }) => ({
      groupName: d.AutoScalingGroupName,
      hookName: d.LifecycleHookName,
      instanceId: d.EC2InstanceId,
      token: d.LifecycleActionToken,
      transition: expected as typeof LAUNCHING | typeof TERMINATING,
      /** EventBridge event id (duplicates share it). */
      eventId: id ?? '',
      /** Epoch ms the action began, when the event says (see `time`). */
      ...(time !== undefined && Number.isFinite(Date.parse(time)) ? { startedAt: Date.parse(time) } : {}),
      ...(d.Origin ? { origin: d.Origin } : {}),
      ...(d.Destination ? { destination: d.Destination } : {}),
    })),
  );
}

const LIFECYCLE_EVENTS = { launch: lifecycleSchema('launch'), terminate: lifecycleSchema('terminate') };

/** The lifecycle action a handler works on (derived from the event schema). */
export type LifecycleAction = z.output<ReturnType<typeof lifecycleSchema>>;

/**
 * Parses a lifecycle event of the expected detail-type (`launch` or `terminate`). Throws
 * InvalidEventError naming the field.
 */
export function parseLifecycleEvent(event: unknown, kind: 'launch' | 'terminate'): LifecycleAction {
  const parsed = z.safeParse(LIFECYCLE_EVENTS[kind], event);
  if (!parsed.success) throw invalid(parsed.error, 'event');
  return parsed.data;
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
const instant = z.transform((value: unknown, ctx) => {
  const ms = typeof value === 'string' ? Date.parse(value) : NaN;
  if (Number.isFinite(ms)) return new Date(ms).toISOString();
  ctx.issues.push({ code: 'custom', input: value, message: `is not a timestamp (got ${shown(value)})` });
  return z.NEVER;
});

/** The body of an alarm state change, the same in both deliveries (under `detail` or `alarmData`). */
const ALARM_BODY = z.object(
  {
    alarmName: required(undefined, 'CloudWatch alarm state changes'),
    state: z.object(
      { value: required(undefined, 'CloudWatch alarm state changes'), timestamp: instant },
      { error: 'is missing' },
    ),
  },
  { error: 'is missing' },
);

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
  let body: unknown;
  let prefix: string;
  let via: AlarmStateChange['via'];
  if (e['detail-type'] === ALARM_STATE_CHANGE) {
    body = e.detail;
    prefix = 'detail';
    via = 'eventbridge';
  } else if (e.source === 'aws.cloudwatch' && typeof e.alarmArn === 'string' && 'alarmData' in e) {
    body = e.alarmData;
    prefix = 'alarmData';
    via = 'alarm-action';
  } else {
    return undefined;
  }
  const parsed = z.safeParse(ALARM_BODY, body);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InvalidEventError([prefix, ...(issue?.path ?? [])].join('.'), issue?.message ?? 'is invalid');
  }
  const { alarmName, state } = parsed.data;
  return { alarmName, state: state.value, stateTimestamp: state.timestamp, via };
}
