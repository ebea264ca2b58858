import type { LocalCloud } from '../index';
import type { Alarm, Datapoint, InvokedAction, LambdaAlarmInvocation } from './records';

/**
 * The state the CloudWatch modules work on: alarms by name, datapoints by metric, the actions
 * alarms took and the Lambda invocations not yet taken by a test.
 */
export class CloudWatchState {
  alarms = new Map<string, Alarm>();
  metrics = new Map<string, Datapoint[]>();
  alarmSeq = 0;
  /** Actions alarms took, in order (only when ActionsEnabled, only on transitions). */
  readonly invokedActions: InvokedAction[] = [];
  /** Lambda alarm actions not yet taken by a test (`takeLambdaInvocations`). */
  lambdaQueue: LambdaAlarmInvocation[] = [];

  constructor(readonly cloud: LocalCloud) {}
}
