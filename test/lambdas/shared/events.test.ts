import { InvalidEventError, parseLifecycleEvent } from '../../../lambdas/shared/events';

const event = (
  detail: Record<string, unknown> = {},
  detailType = 'EC2 Instance-launch Lifecycle Action',
) => ({
  version: '0',
  id: 'e1',
  'detail-type': detailType,
  source: 'aws.autoscaling',
  detail: {
    LifecycleActionToken: '87654321-4321-4321-4321-210987654321',
    AutoScalingGroupName: 'etcd-nodes',
    LifecycleHookName: 'berth-launch',
    EC2InstanceId: 'i-1234567890abcdef0',
    LifecycleTransition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
    ...detail,
  },
});

describe('parseLifecycleEvent', () => {
  it('reads the lifecycle action of a launch event', () => {
    expect(parseLifecycleEvent(event(), 'launch')).toMatchObject({
      instanceId: 'i-1234567890abcdef0',
      token: '87654321-4321-4321-4321-210987654321',
      groupName: 'etcd-nodes',
      hookName: 'berth-launch',
    });
  });

  it.each([
    ['a missing token', { LifecycleActionToken: undefined }, 'detail.LifecycleActionToken'],
    ['a malformed instance id', { EC2InstanceId: 'x' }, 'detail.EC2InstanceId'],
    [
      'the wrong transition',
      { LifecycleTransition: 'autoscaling:EC2_INSTANCE_TERMINATING' },
      'detail.LifecycleTransition',
    ],
  ])('rejects %s naming the field', (_name, detail, field) => {
    expect(() => parseLifecycleEvent(event(detail), 'launch')).toThrow(InvalidEventError);
    expect(() => parseLifecycleEvent(event(detail), 'launch')).toThrow(field);
  });

  it('rejects an event of another detail-type', () => {
    expect(() => parseLifecycleEvent(event({}, 'EC2 Instance Launch Successful'), 'launch')).toThrow(
      'detail-type',
    );
  });

  it('rejects something that is not an object', () => {
    expect(() => parseLifecycleEvent('hello', 'terminate')).toThrow('event');
  });
});
