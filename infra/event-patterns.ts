/**
 * The EventBridge patterns of a group (side-effect free): each matches this group's events only.
 * Event shapes: Auto Scaling lifecycle actions (`detail.AutoScalingGroupName`,
 * `detail.LifecycleHookName`) and CloudWatch "Alarm State Change" (`detail.alarmName`,
 * `detail.state.value`).
 */
export const LAUNCH_DETAIL_TYPE = 'EC2 Instance-launch Lifecycle Action';
export const TERMINATE_DETAIL_TYPE = 'EC2 Instance-terminate Lifecycle Action';
export const ALARM_DETAIL_TYPE = 'CloudWatch Alarm State Change';

/** The subset of EventBridge's pattern language berth uses: exact values and `prefix`. */
export type PatternValue = string | { prefix: string };
export interface EventPatternShape {
  source: string[];
  'detail-type': string[];
  detail: Record<string, PatternValue[] | Record<string, PatternValue[]>>;
}

export function lifecyclePattern(
  transition: 'launch' | 'terminate',
  groupName: string,
  hookName: string,
): EventPatternShape {
  return {
    source: ['aws.autoscaling'],
    'detail-type': [transition === 'launch' ? LAUNCH_DETAIL_TYPE : TERMINATE_DETAIL_TYPE],
    detail: { AutoScalingGroupName: [groupName], LifecycleHookName: [hookName] },
  };
}

/** `${alarmPrefix}${groupName}-`: what every alarm name of the group starts with. */
export function groupAlarmNamePrefix(alarmPrefix: string, groupName: string): string {
  return `${alarmPrefix}${groupName}-`;
}

/**
 * The prefix of this group's per-instance alarms, `${alarmPrefix}${groupName}-i-`: the alarms are
 * named `${alarmPrefix}${groupName}-<instance id>`, and ending the prefix with `i-` keeps group
 * "web" from matching the alarms of group "web-2" (`berth-web-2-i-…`). The one definition of it: the EventBridge rule, the IAM statement on the
 * alarms and the grow/reconcile code's DescribeAlarms all use this.
 */
export function instanceAlarmPrefix(alarmNamePrefix: string): string {
  return `${alarmNamePrefix}i-`;
}

/** This group's instance alarms entering ALARM. */
export function growAlarmPattern(alarmNamePrefix: string): EventPatternShape {
  return {
    source: ['aws.cloudwatch'],
    'detail-type': [ALARM_DETAIL_TYPE],
    detail: {
      alarmName: [{ prefix: instanceAlarmPrefix(alarmNamePrefix) }],
      state: { value: ['ALARM'] },
    },
  };
}
