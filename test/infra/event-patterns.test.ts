import { growAlarmPattern, lifecyclePattern } from '../../infra/event-patterns';
import { matches } from './event-matcher';

function lifecycleEvent(kind: 'launch' | 'terminate', group: string, hook: string) {
  return {
    version: '0',
    id: '12345678-1234-1234-1234-123456789012',
    'detail-type': `EC2 Instance-${kind} Lifecycle Action`,
    source: 'aws.autoscaling',
    account: '111111111111',
    region: 'eu-west-1',
    resources: [
      `arn:aws:autoscaling:eu-west-1:111111111111:autoScalingGroup:uuid:autoScalingGroupName/${group}`,
    ],
    detail: {
      LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
      AutoScalingGroupName: group,
      LifecycleHookName: hook,
      EC2InstanceId: 'i-0123456789abcdef0',
      LifecycleTransition: `autoscaling:EC2_INSTANCE_${kind === 'launch' ? 'LAUNCHING' : 'TERMINATING'}`,
      NotificationMetadata: '',
    },
  };
}

function alarmEvent(alarmName: string, state: string) {
  return {
    'detail-type': 'CloudWatch Alarm State Change',
    source: 'aws.cloudwatch',
    resources: [`arn:aws:cloudwatch:eu-west-1:111111111111:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: state, reason: 'Threshold Crossed', timestamp: '2026-11-21T00:00:00.000+0000' },
      previousState: { value: 'OK' },
      configuration: { metrics: [] },
    },
  };
}

describe('lifecycle rule patterns', () => {
  const launch = lifecyclePattern('launch', 'etcd', 'berth-launch');
  const terminate = lifecyclePattern('terminate', 'etcd', 'berth-terminate');

  it("matches the group's launch lifecycle action", () => {
    expect(matches(launch, lifecycleEvent('launch', 'etcd', 'berth-launch'))).toBe(true);
  });

  it("matches the group's terminate lifecycle action", () => {
    expect(matches(terminate, lifecycleEvent('terminate', 'etcd', 'berth-terminate'))).toBe(true);
  });

  it("ignores another group's lifecycle actions, even one whose name starts with this group's", () => {
    expect(matches(launch, lifecycleEvent('launch', 'etcd-2', 'berth-launch'))).toBe(false);
    expect(matches(launch, lifecycleEvent('launch', 'kafka', 'berth-launch'))).toBe(false);
  });

  it('ignores another hook of the same group and the other transition', () => {
    expect(matches(launch, lifecycleEvent('launch', 'etcd', 'someone-elses-hook'))).toBe(false);
    expect(matches(launch, lifecycleEvent('terminate', 'etcd', 'berth-launch'))).toBe(false);
    expect(matches(terminate, lifecycleEvent('launch', 'etcd', 'berth-terminate'))).toBe(false);
  });
});

describe('grow rule pattern', () => {
  const grow = growAlarmPattern('berth-etcd-');

  it("matches this group's instance alarm entering ALARM", () => {
    expect(matches(grow, alarmEvent('berth-etcd-i-0123456789abcdef0', 'ALARM'))).toBe(true);
  });

  it('ignores the same alarm returning to OK or INSUFFICIENT_DATA', () => {
    expect(matches(grow, alarmEvent('berth-etcd-i-0123456789abcdef0', 'OK'))).toBe(false);
    expect(matches(grow, alarmEvent('berth-etcd-i-0123456789abcdef0', 'INSUFFICIENT_DATA'))).toBe(false);
  });

  it('ignores the alarms of group etcd-2, whose names also start with berth-etcd-', () => {
    expect(matches(grow, alarmEvent('berth-etcd-2-i-0123456789abcdef0', 'ALARM'))).toBe(false);
  });

  it('ignores alarms that are not berth instance alarms', () => {
    expect(matches(grow, alarmEvent('etcd-high-cpu', 'ALARM'))).toBe(false);
    expect(matches(grow, alarmEvent('berth-etcd-dlq-depth', 'ALARM'))).toBe(false);
  });
});

describe('the test matcher itself', () => {
  it('refuses operators it does not implement', () => {
    expect(() => matches({ detail: { x: [{ wildcard: 'a*' }] } }, { detail: { x: 'a' } })).toThrow(
      'unsupported pattern value {"wildcard":"a*"}',
    );
  });
});
