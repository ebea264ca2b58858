/** Groups and their instances: seeding, DescribeAutoScalingGroups/Instances, health, capacity, termination. */
import type {
  DescribeAutoScalingInstancesType,
  Filter,
  AutoScalingGroupNamesType,
  SetInstanceHealthQuery,
  TerminateInstanceInAutoScalingGroupType,
} from '@aws-sdk/client-auto-scaling';
import { fail } from '../errors';
import { paginate } from '../paging';
import { putHook } from './hooks';
import { beginTermination, reconcile, settle } from './lifecycle';
import { uuid, type Group, type GroupOptions } from './records';
import type { AutoScalingState } from './state';

/** Creates a group and launches its desired capacity. */
export function createGroup(asg: AutoScalingState, options: GroupOptions): void {
  if (asg.groups.has(options.name)) throw new Error(`createGroup: group ${options.name} exists`);
  if (options.subnetIds.length === 0) throw new Error('createGroup: at least one subnet');
  const min = options.min ?? 0;
  const max = options.max ?? Math.max(options.desired, 10);
  if (!(min <= options.desired && options.desired <= max))
    throw new Error('createGroup: min ≤ desired ≤ max');
  const group: Group = {
    name: options.name,
    arn: `arn:aws:autoscaling:${asg.cloud.region}:${asg.cloud.account}:autoScalingGroup:${uuid(`group:${options.name}`)}:autoScalingGroupName/${options.name}`,
    subnetIds: [...options.subnetIds],
    min,
    max,
    desired: options.desired,
    instanceType: options.instanceType ?? 'm5.large',
    tags: { ...(options.tags ?? {}) },
    launchTags: { ...(options.launchTags ?? {}) },
    hooks: new Map(),
    createdAt: asg.cloud.clock.now(),
  };
  asg.groups.set(group.name, group);
  for (const hook of options.hooks ?? []) {
    putHook(group, {
      LifecycleHookName: hook.name,
      AutoScalingGroupName: group.name,
      LifecycleTransition: hook.transition,
      HeartbeatTimeout: hook.heartbeatTimeout ?? hook.heartbeatTimeoutSeconds,
      DefaultResult: hook.defaultResult,
      NotificationMetadata: hook.notificationMetadata,
    });
  }
  settle(asg);
  reconcile(asg, group);
}

/**
 * Terminates a group member as TerminateInstanceInAutoScalingGroup does: through its terminate
 * hooks; replaced unless `decrementCapacity`.
 */
export function terminateInstance(
  asg: AutoScalingState,
  instanceId: string,
  options: { decrementCapacity?: boolean } = {},
): void {
  settle(asg);
  const member = asg.member(instanceId);
  const group = asg.group(member.group);
  if (options.decrementCapacity) {
    if (group.desired - 1 < group.min) {
      throw fail(
        'ValidationError',
        `Currently, desiredSize equals minSize (${group.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`,
      );
    }
    group.desired -= 1;
  }
  beginTermination(asg, member);
  reconcile(asg, group);
}

export function describeAutoScalingGroups(asg: AutoScalingState, input: AutoScalingGroupNamesType): unknown {
  const max = input.MaxRecords;
  if (max !== undefined && (max < 1 || max > 100)) {
    throw fail(
      'ValidationError',
      `1 validation error detected: Value '${max}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100`,
    );
  }
  const names = input.AutoScalingGroupNames;
  const groups = [...asg.groups.values()]
    .filter((g) => names === undefined || names.length === 0 || names.includes(g.name))
    .filter((g) => matchesFilters(g.tags, input.Filters ?? []))
    .sort((a, b) => (a.name < b.name ? -1 : 1));
  const { page, nextToken } = paginate(groups, max ?? 50, input.NextToken, {
    min: 1,
    max: 100,
    parameter: 'MaxRecords',
  });
  return {
    AutoScalingGroups: page.map((g) => ({
      AutoScalingGroupName: g.name,
      AutoScalingGroupARN: g.arn,
      MinSize: g.min,
      MaxSize: g.max,
      DesiredCapacity: g.desired,
      DefaultCooldown: 300,
      AvailabilityZones: [...new Set(g.subnetIds.map((s) => asg.azOfSubnet(s)))],
      HealthCheckType: 'EC2',
      HealthCheckGracePeriod: 300,
      Instances: asg.groupMembers(g.name).map((m) => ({
        InstanceId: m.instanceId,
        InstanceType: m.instanceType,
        AvailabilityZone: m.availabilityZone,
        LifecycleState: m.state,
        HealthStatus: m.health,
        ProtectedFromScaleIn: false,
      })),
      CreatedTime: new Date(g.createdAt),
      VPCZoneIdentifier: g.subnetIds.join(','),
      Tags: Object.entries(g.tags).map(([Key, Value]) => ({
        ResourceId: g.name,
        ResourceType: 'auto-scaling-group',
        Key,
        Value,
        PropagateAtLaunch: true,
      })),
      TerminationPolicies: ['Default'],
      NewInstancesProtectedFromScaleIn: false,
      ServiceLinkedRoleARN: `arn:aws:iam::${asg.cloud.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
    })),
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

export function describeAutoScalingInstances(
  asg: AutoScalingState,
  input: DescribeAutoScalingInstancesType,
): unknown {
  const ids = input.InstanceIds;
  if (ids !== undefined && ids.length > 50)
    throw fail('ValidationError', 'The number of instance ids that may be passed in is limited to 50.');
  const max = input.MaxRecords;
  if (max !== undefined && (max < 1 || max > 50)) {
    throw fail(
      'ValidationError',
      `1 validation error detected: Value '${max}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 50`,
    );
  }
  const members = [...asg.live]
    .filter((m) => m.state !== 'Terminated')
    .filter((m) => ids === undefined || ids.length === 0 || ids.includes(m.instanceId))
    .sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
  const { page, nextToken } = paginate(members, max ?? 50, input.NextToken, {
    min: 1,
    max: 50,
    parameter: 'MaxRecords',
  });
  return {
    // DescribeAutoScalingInstances spells health in capitals (HEALTHY/UNHEALTHY), unlike
    // DescribeAutoScalingGroups (Healthy/Unhealthy).
    AutoScalingInstances: page.map((m) => ({
      InstanceId: m.instanceId,
      InstanceType: m.instanceType,
      AutoScalingGroupName: m.group,
      AvailabilityZone: m.availabilityZone,
      LifecycleState: m.state,
      HealthStatus: m.health.toUpperCase(),
      ProtectedFromScaleIn: false,
    })),
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

export function setInstanceHealth(asg: AutoScalingState, input: SetInstanceHealthQuery): unknown {
  const member = asg.member(input.InstanceId ?? '');
  const health = input.HealthStatus;
  if (health !== 'Healthy' && health !== 'Unhealthy') {
    throw fail('ValidationError', `Invalid HealthStatus ${String(health)}: expected Healthy or Unhealthy`);
  }
  if (member.state.startsWith('Terminating')) return {};
  member.health = health;
  if (health === 'Unhealthy' && member.state === 'InService') {
    // An unhealthy instance is replaced: terminated through its hooks, capacity kept.
    beginTermination(asg, member);
    reconcile(asg, asg.group(member.group));
  }
  return {};
}

export function terminateInstanceInGroup(
  asg: AutoScalingState,
  input: TerminateInstanceInAutoScalingGroupType,
): unknown {
  const instanceId = input.InstanceId ?? '';
  const member = asg.member(instanceId);
  const decrement = input.ShouldDecrementDesiredCapacity;
  if (decrement === undefined)
    throw fail('ValidationError', 'ShouldDecrementDesiredCapacity must be specified.');
  const now = asg.cloud.clock.now();
  if (!member.state.startsWith('Terminating'))
    terminateInstance(asg, instanceId, { decrementCapacity: decrement });
  return {
    Activity: {
      ActivityId: uuid(`activity:${instanceId}:${now}`),
      AutoScalingGroupName: member.group,
      Description: `Terminating EC2 instance: ${instanceId}`,
      Cause: `At ${new Date(now).toISOString()} instance ${instanceId} was taken out of service in response to a user request${decrement ? ', shrinking the capacity' : ''}.`,
      StartTime: new Date(now),
      StatusCode: 'InProgress',
      Progress: 0,
      Details: JSON.stringify({ Subnet: '', 'Availability Zone': member.availabilityZone }),
    },
  };
}

export function setDesiredCapacity(asg: AutoScalingState, group: Group, desired: number): void {
  if (!Number.isInteger(desired) || desired < 0)
    throw fail('ValidationError', `Invalid DesiredCapacity ${desired}`);
  if (desired > group.max) {
    throw fail(
      'ValidationError',
      `New SetDesiredCapacity value ${desired} is above max value ${group.max} for the AutoScalingGroup.`,
    );
  }
  if (desired < group.min) {
    throw fail(
      'ValidationError',
      `New SetDesiredCapacity value ${desired} is below min value ${group.min} for the AutoScalingGroup.`,
    );
  }
  group.desired = desired;
  reconcile(asg, group);
}

/** Tag filters of DescribeAutoScalingGroups: `tag-key`, `tag-value`, `tag:<key>`. */
export function matchesFilters(tags: Record<string, string>, filters: Filter[]): boolean {
  return filters.every((f) => {
    const values = f.Values ?? [];
    const name = f.Name ?? '';
    if (name === 'tag-key') return Object.keys(tags).some((k) => values.includes(k));
    if (name === 'tag-value') return Object.values(tags).some((v) => values.includes(v));
    if (name.startsWith('tag:')) {
      const value = tags[name.slice(4)];
      return value !== undefined && values.includes(value);
    }
    throw fail('ValidationError', `Filter name ${name} is not valid (tag-key, tag-value, tag:<key>).`);
  });
}
