import type {
  DeleteAlarmsInput,
  DescribeAlarmsInput,
  GetMetricDataInput,
  GetMetricStatisticsInput,
  ListTagsForResourceInput,
  PutMetricAlarmInput,
  PutMetricDataInput,
  SetAlarmStateInput,
} from '@aws-sdk/client-cloudwatch';
import type { LocalCloud } from '../index';
import { unknownOperation, type ServiceModel } from '../transport';
import * as alarms from './alarms';
import { evaluate, transition } from './evaluation';
import * as metrics from './metrics';
import type { AlarmStateValue, InvokedAction, LambdaAlarmInvocation } from './records';
import { CloudWatchState } from './state';

export type { AlarmStateValue, InvokedAction, LambdaAlarmInvocation } from './records';
export { awsDate } from './values';

/**
 * CloudWatch: metric alarms, metric data and alarm evaluation, with the `CloudWatch Alarm State
 * Change` event on every state transition (and only then: alarms act on transitions).
 *
 * Evaluation is settled lazily from the clock: whenever the model is called or the event bus is read,
 * each alarm is evaluated at every evaluation tick it has not seen yet (every minute; every 10 s for
 * periods below 60 s), over the `EvaluationPeriods` most recent *complete* periods, so a datapoint
 * counts once its period has ended (AWS also evaluates with a delay).
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/AlarmThatSendsEmail.html
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
 */
//
// Layout: this file is the façade (the public methods and the dispatch) over CloudWatchState;
// `alarms.ts` (PutMetricAlarm … ListTagsForResource), `evaluation.ts` (ticks, transitions, events,
// actions), `metrics.ts` (the metric store), `math.ts` (metric math), `records.ts`, `values.ts`.
export class CloudWatchModel implements ServiceModel {
  private readonly state: CloudWatchState;
  /** Actions alarms took, in order (only when ActionsEnabled, only on transitions). */
  readonly invokedActions: InvokedAction[];

  constructor(readonly cloud: LocalCloud) {
    this.state = new CloudWatchState(cloud);
    this.invokedActions = this.state.invokedActions;
    cloud.events.addSettler(() => this.evaluate());
  }

  handle(operation: string, input: Record<string, unknown>): unknown {
    this.evaluate();
    const cw = this.state;
    switch (operation) {
      case 'PutMetricAlarm':
        return alarms.putMetricAlarm(cw, input as unknown as PutMetricAlarmInput);
      case 'DescribeAlarms':
        return alarms.describeAlarms(cw, input as unknown as DescribeAlarmsInput);
      case 'DeleteAlarms':
        return alarms.deleteAlarms(cw, input as unknown as DeleteAlarmsInput);
      case 'SetAlarmState':
        return alarms.setAlarmState(cw, input as unknown as SetAlarmStateInput);
      case 'PutMetricData':
        return metrics.putMetricData(cw, input as unknown as PutMetricDataInput);
      case 'GetMetricData':
        return metrics.getMetricData(cw, input as unknown as GetMetricDataInput);
      case 'GetMetricStatistics':
        return metrics.getMetricStatistics(cw, input as unknown as GetMetricStatisticsInput);
      case 'ListTagsForResource':
        return alarms.listTagsForResource(cw, input as unknown as ListTagsForResourceInput);
      default:
        return unknownOperation('cloudwatch', operation);
    }
  }

  /** The alarm's current state (for tests), or undefined. */
  alarmState(name: string): AlarmStateValue | undefined {
    this.evaluate();
    return this.state.alarms.get(name)?.state.value;
  }

  /**
   * An alarm event storm (fault injection): the alarm flaps between ALARM and OK `transitions`
   * times, one state change (one EventBridge event) each, as a metric hovering at its threshold
   * makes it do. Ends in ALARM when `transitions` is odd. Returns the number of state changes.
   */
  flap(name: string, transitions: number): number {
    const alarm = this.state.alarms.get(name);
    if (!alarm) return 0;
    let changes = 0;
    for (let i = 0; i < transitions; i++) {
      const value: AlarmStateValue = alarm.state.value === 'ALARM' ? 'OK' : 'ALARM';
      alarm.dirty = true;
      transition(this.state, alarm, {
        value,
        reason: `local cloud: alarm flapping (${i + 1}/${transitions})`,
        reasonData: '{}',
        timestamp: this.cloud.clock.now() + i,
      });
      changes++;
    }
    return changes;
  }

  /**
   * Takes the Lambda invocations alarm actions made (optionally only those of one function): the
   * test delivers each payload to the handler, as Lambda's asynchronous invocation would.
   */
  takeLambdaInvocations(functionArn?: string): LambdaAlarmInvocation[] {
    this.cloud.events.settle();
    const taken = this.state.lambdaQueue.filter(
      (i) => functionArn === undefined || i.functionArn === functionArn,
    );
    this.state.lambdaQueue = this.state.lambdaQueue.filter((i) => !taken.includes(i));
    return taken;
  }

  alarmNames(): string[] {
    return [...this.state.alarms.keys()].sort();
  }

  /** Evaluates every alarm at each evaluation tick up to now (called on every read of the model). */
  evaluate(): void {
    evaluate(this.state);
  }
}
