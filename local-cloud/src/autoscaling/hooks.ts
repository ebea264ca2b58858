/** Lifecycle hooks and the API calls on lifecycle actions (complete, heartbeat). */
import type {
  CompleteLifecycleActionType,
  DeleteLifecycleHookType,
  DescribeLifecycleHooksType,
  PutLifecycleHookType,
  RecordLifecycleActionHeartbeatType,
} from '@aws-sdk/client-auto-scaling';
import { fail } from '../errors';
import { end } from './lifecycle';
import {
  TRANSITIONS,
  globalTimeoutSeconds,
  type Group,
  type LifecycleAction,
  type LifecycleResult,
  type Transition,
} from './records';
import type { AutoScalingState } from './state';

export function putHook(group: Group, input: PutLifecycleHookType): void {
  const name = input.LifecycleHookName;
  if (!name || !/^[A-Za-z0-9\-_/]{1,255}$/.test(name)) {
    throw fail('ValidationError', `Invalid lifecycle hook name ${String(name)}`);
  }
  const existing = group.hooks.get(name);
  const transition = (input.LifecycleTransition ?? existing?.transition) as Transition | undefined;
  if (!transition || !TRANSITIONS.includes(transition)) {
    throw fail('ValidationError', `Invalid Lifecycle Transition: ${String(transition)}`);
  }
  const heartbeatTimeout = input.HeartbeatTimeout ?? existing?.heartbeatTimeout ?? 3600;
  if (heartbeatTimeout < 30 || heartbeatTimeout > 7200) {
    throw fail(
      'ValidationError',
      `Heartbeat timeout must be between 30 and 7200 seconds (got ${heartbeatTimeout}).`,
    );
  }
  const defaultResult = (input.DefaultResult ?? existing?.defaultResult ?? 'ABANDON') as LifecycleResult;
  if (defaultResult !== 'CONTINUE' && defaultResult !== 'ABANDON') {
    throw fail(
      'ValidationError',
      `Invalid DefaultResult ${String(defaultResult)}: expected CONTINUE or ABANDON`,
    );
  }
  const metadata = input.NotificationMetadata ?? existing?.notificationMetadata;
  if (metadata !== undefined && metadata.length > 1023) {
    throw fail('ValidationError', 'NotificationMetadata must be at most 1023 characters.');
  }
  if (!existing && group.hooks.size >= 50)
    throw fail('LimitExceededFault', 'Maximum number of lifecycle hooks (50) reached for the group.');
  group.hooks.set(name, {
    name,
    transition,
    heartbeatTimeout,
    defaultResult,
    ...(metadata !== undefined ? { notificationMetadata: metadata } : {}),
    ...((input.NotificationTargetARN ?? existing?.notificationTargetArn)
      ? { notificationTargetArn: input.NotificationTargetARN ?? existing?.notificationTargetArn }
      : {}),
    ...((input.RoleARN ?? existing?.roleArn) ? { roleArn: input.RoleARN ?? existing?.roleArn } : {}),
  });
}

export function describeLifecycleHooks(asg: AutoScalingState, input: DescribeLifecycleHooksType): unknown {
  const group = asg.groupOrFail(input.AutoScalingGroupName);
  const names = input.LifecycleHookNames;
  return {
    LifecycleHooks: [...group.hooks.values()]
      .filter((h) => names === undefined || names.length === 0 || names.includes(h.name))
      .map((h) => ({
        LifecycleHookName: h.name,
        AutoScalingGroupName: group.name,
        LifecycleTransition: h.transition,
        ...(h.notificationTargetArn ? { NotificationTargetARN: h.notificationTargetArn } : {}),
        ...(h.roleArn ? { RoleARN: h.roleArn } : {}),
        ...(h.notificationMetadata !== undefined ? { NotificationMetadata: h.notificationMetadata } : {}),
        HeartbeatTimeout: h.heartbeatTimeout,
        GlobalTimeout: globalTimeoutSeconds(h.heartbeatTimeout),
        DefaultResult: h.defaultResult,
      })),
  };
}

export function deleteLifecycleHook(asg: AutoScalingState, input: DeleteLifecycleHookType): unknown {
  const group = asg.groupOrFail(input.AutoScalingGroupName);
  const hook = asg.hookOrFail(group, input.LifecycleHookName);
  group.hooks.delete(hook.name);
  // "If there are any outstanding lifecycle actions, they are completed first (ABANDON for
  // launching instances, CONTINUE for terminating instances)." (DeleteLifecycleHook)
  for (const action of asg.actions) {
    if (action.group === group.name && action.hook === hook.name && action.result === undefined) {
      const result = action.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING' ? 'ABANDON' : 'CONTINUE';
      end(asg, action, result, asg.cloud.clock.now(), false);
    }
  }
  return {};
}

export function completeLifecycleAction(asg: AutoScalingState, input: CompleteLifecycleActionType): unknown {
  const group = asg.groupOrFail(input.AutoScalingGroupName);
  asg.hookOrFail(group, input.LifecycleHookName);
  const result = input.LifecycleActionResult;
  if (result !== 'CONTINUE' && result !== 'ABANDON') {
    throw fail(
      'ValidationError',
      `Invalid value ${String(result)} for LifecycleActionResult: expected CONTINUE or ABANDON`,
    );
  }
  const action = activeAction(
    asg,
    group.name,
    input.LifecycleHookName ?? '',
    input.LifecycleActionToken,
    input.InstanceId,
  );
  end(asg, action, result, asg.cloud.clock.now(), false);
  return {};
}

export function recordHeartbeat(asg: AutoScalingState, input: RecordLifecycleActionHeartbeatType): unknown {
  const group = asg.groupOrFail(input.AutoScalingGroupName);
  const hook = asg.hookOrFail(group, input.LifecycleHookName);
  const action = activeAction(asg, group.name, hook.name, input.LifecycleActionToken, input.InstanceId);
  // The timeout restarts; the global timeout still bounds the total wait.
  action.deadline = Math.min(asg.cloud.clock.now() + hook.heartbeatTimeout * 1000, action.globalDeadline);
  return {};
}

export function activeAction(
  asg: AutoScalingState,
  group: string,
  hook: string,
  token: string | undefined,
  instanceId: string | undefined,
): LifecycleAction {
  if (token === undefined && instanceId === undefined) {
    throw fail('ValidationError', 'Either LifecycleActionToken or InstanceId must be specified.');
  }
  const action = asg.actions.find(
    (a) =>
      a.result === undefined &&
      a.group === group &&
      a.hook === hook &&
      (token !== undefined ? a.token === token : a.instanceId === instanceId) &&
      (token === undefined || instanceId === undefined || a.instanceId === instanceId),
  );
  if (!action) {
    throw fail(
      'ValidationError',
      token !== undefined
        ? `No active Lifecycle Action found with token ${token}`
        : `No active Lifecycle Action found with instance ID ${String(instanceId)}`,
    );
  }
  return action;
}
