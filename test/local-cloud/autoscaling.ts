import type {
  CompleteLifecycleActionType,
  DeleteLifecycleHookType,
  DescribeAutoScalingInstancesType,
  DescribeLifecycleHooksType,
  Filter,
  AutoScalingGroupNamesType,
  PutLifecycleHookType,
  RecordLifecycleActionHeartbeatType,
  SetDesiredCapacityType,
  SetInstanceHealthQuery,
  TerminateInstanceInAutoScalingGroupType,
} from '@aws-sdk/client-auto-scaling';
import { createHash } from 'node:crypto';
import { fail } from './errors';
import type { LocalCloud } from './index';
import { paginate } from './paging';
import { ec2View } from './ssm';
import { unknownOperation, type ServiceModel } from './transport';

/**
 * Amazon EC2 Auto Scaling: groups, instances and their lifecycle states, lifecycle hooks with
 * heartbeat timeouts and default results, CompleteLifecycleAction / RecordLifecycleActionHeartbeat
 * with token checks, and the EventBridge events a launch or a termination emits.
 *
 * Rules (https://docs.aws.amazon.com/autoscaling/ec2/userguide/lifecycle-hooks.html,
 * https://docs.aws.amazon.com/autoscaling/ec2/userguide/ec2-auto-scaling-event-reference.html):
 * - a launch goes Pending → Pending:Wait (one action and one event per launch hook) → on CONTINUE
 *   Pending:Proceed → InService (once the EC2 instance runs); on ABANDON the instance is terminated
 *   and replaced;
 * - a termination goes Terminating:Wait (per terminate hook) → Terminating:Proceed (CONTINUE and
 *   ABANDON both proceed) → the EC2 instance is terminated and leaves the group; unless capacity was
 *   decremented, a replacement is launched as soon as the instance starts terminating (so a
 *   replacement can meet a set still held by a terminating instance);
 * - a hook's heartbeat timeout (30–7200 s, default 3600) applies its default result (CONTINUE or
 *   ABANDON, default ABANDON); RecordLifecycleActionHeartbeat restarts the timeout, and the total
 *   wait is capped at min(48 h, 100 × heartbeat timeout) ("global timeout");
 * - a completed, timed-out or unknown token answers ValidationError "No active Lifecycle Action
 *   found with token …" (AWS's text).
 * Time-driven changes are settled lazily from the clock on every call and every read of the bus.
 */

export type Transition = 'autoscaling:EC2_INSTANCE_LAUNCHING' | 'autoscaling:EC2_INSTANCE_TERMINATING';
export type LifecycleResult = 'CONTINUE' | 'ABANDON';
export type LifecycleState =
  | 'Pending'
  | 'Pending:Wait'
  | 'Pending:Proceed'
  | 'InService'
  | 'Terminating'
  | 'Terminating:Wait'
  | 'Terminating:Proceed'
  | 'Terminated';

export interface HookOptions {
  name: string;
  transition: Transition;
  /** Seconds, 30–7200. @default 3600 */
  heartbeatTimeout?: number;
  /** Alias of `heartbeatTimeout`. */
  heartbeatTimeoutSeconds?: number;
  /** @default 'ABANDON' */
  defaultResult?: LifecycleResult;
  notificationMetadata?: string;
}

export interface GroupOptions {
  name: string;
  subnetIds: string[];
  desired: number;
  /** @default 0 */
  min?: number;
  /** @default max(desired, 10) */
  max?: number;
  /** @default 'm5.large' */
  instanceType?: string;
  /** Group tags, propagated at launch. */
  tags?: Record<string, string>;
  /** Extra tags on every instance launched (not group tags). */
  launchTags?: Record<string, string>;
  hooks?: HookOptions[];
}

interface Hook {
  name: string;
  transition: Transition;
  heartbeatTimeout: number;
  defaultResult: LifecycleResult;
  notificationMetadata?: string;
  notificationTargetArn?: string;
  roleArn?: string;
}

interface Group {
  name: string;
  arn: string;
  subnetIds: string[];
  min: number;
  max: number;
  desired: number;
  instanceType: string;
  tags: Record<string, string>;
  launchTags: Record<string, string>;
  hooks: Map<string, Hook>;
  createdAt: number;
}

interface Member {
  instanceId: string;
  group: string;
  availabilityZone: string;
  instanceType: string;
  state: LifecycleState;
  health: 'Healthy' | 'Unhealthy';
  launchedAt: number;
  /** The launch was abandoned (the instance is terminated and replaced). */
  abandoned?: boolean;
}

export interface LifecycleAction {
  token: string;
  instanceId: string;
  group: string;
  hook: string;
  transition: Transition;
  startedAt: number;
  /** When the heartbeat timeout expires (restarted by RecordLifecycleActionHeartbeat). */
  deadline: number;
  /** min(48 h, 100 × heartbeat timeout) after the start. */
  globalDeadline: number;
  defaultResult: LifecycleResult;
  result?: LifecycleResult;
  endedAt?: number;
  timedOut?: boolean;
}

const MAX_GLOBAL_TIMEOUT_S = 48 * 3600;
const TRANSITIONS: Transition[] = [
  'autoscaling:EC2_INSTANCE_LAUNCHING',
  'autoscaling:EC2_INSTANCE_TERMINATING',
];

export class AutoScalingModel implements ServiceModel {
  /**
   * When a terminated instance (not decremented) is replaced: as soon as it starts terminating
   * (default: instances in Terminating:Wait do not count toward the desired capacity, so the
   * replacement can meet a set its predecessor still holds), or once it is gone. (AWS, default
   * maintenance behaviour: "the termination … will start right before the launch, but the ASG won't
   * wait for the termination to finish before the launch starts", re:Post QUKC2EtnyGSPS_RWk7AD6BKQ.)
   */
  replaceWhen: 'terminating' | 'terminated' = 'terminating';
  /** Share of lifecycle events never delivered (AWS: "produced on a best-effort basis"). @default 0 */
  lostEventRate = 0;
  /** The lifecycle events that were lost. */
  readonly lostEvents: { instanceId: string; hook: string; transition: Transition }[] = [];
  private groups = new Map<string, Group>();
  private members = new Map<string, Member>();
  /**
   * Members not yet Terminated, and the index of the oldest action that may still be waiting: every
   * call settles the model, so settling reads these instead of every instance and action of the run
   * (a fault campaign makes thousands; a scan of all of them per call made long runs quadratic).
   */
  private live = new Set<Member>();
  private actions: LifecycleAction[] = [];
  private firstOpenAction = 0;
  private seq = 0;
  private settling = false;

  constructor(readonly cloud: LocalCloud) {
    cloud.events.addSettler(() => this.settle());
  }

  // ---- seeding and scaling (not AWS calls) ------------------------------------------------------

  /** Creates a group and launches its desired capacity. */
  createGroup(options: GroupOptions): void {
    if (this.groups.has(options.name)) throw new Error(`createGroup: group ${options.name} exists`);
    if (options.subnetIds.length === 0) throw new Error('createGroup: at least one subnet');
    const min = options.min ?? 0;
    const max = options.max ?? Math.max(options.desired, 10);
    if (!(min <= options.desired && options.desired <= max))
      throw new Error('createGroup: min ≤ desired ≤ max');
    const group: Group = {
      name: options.name,
      arn: `arn:aws:autoscaling:${this.cloud.region}:${this.cloud.account}:autoScalingGroup:${uuid(`group:${options.name}`)}:autoScalingGroupName/${options.name}`,
      subnetIds: [...options.subnetIds],
      min,
      max,
      desired: options.desired,
      instanceType: options.instanceType ?? 'm5.large',
      tags: { ...(options.tags ?? {}) },
      launchTags: { ...(options.launchTags ?? {}) },
      hooks: new Map(),
      createdAt: this.cloud.clock.now(),
    };
    this.groups.set(group.name, group);
    for (const hook of options.hooks ?? []) {
      this.putHook(group, {
        LifecycleHookName: hook.name,
        AutoScalingGroupName: group.name,
        LifecycleTransition: hook.transition,
        HeartbeatTimeout: hook.heartbeatTimeout ?? hook.heartbeatTimeoutSeconds,
        DefaultResult: hook.defaultResult,
        NotificationMetadata: hook.notificationMetadata,
      });
    }
    this.settle();
    this.reconcile(group);
  }

  /** Scale out by `n` (desired capacity grows by `n`, within MaxSize). Returns the new instance ids. */
  launchInstances(groupName: string, n: number): string[] {
    this.settle();
    const group = this.group(groupName);
    if (group.desired + n > group.max) group.max = group.desired + n;
    group.desired += n;
    return this.reconcile(group);
  }

  /** Sets the desired capacity: launches, or terminates (default termination policy), to reach it. */
  setDesired(groupName: string, desired: number): void {
    this.settle();
    const group = this.group(groupName);
    this.setDesiredCapacity(group, desired);
  }

  /**
   * Terminates a group member as TerminateInstanceInAutoScalingGroup does: through its terminate
   * hooks; replaced unless `decrementCapacity`.
   */
  terminateInstance(instanceId: string, options: { decrementCapacity?: boolean } = {}): void {
    this.settle();
    const member = this.member(instanceId);
    const group = this.group(member.group);
    if (options.decrementCapacity) {
      if (group.desired - 1 < group.min) {
        throw fail(
          'ValidationError',
          `Currently, desiredSize equals minSize (${group.min}). Terminating instance without replacement will violate group's min size constraint. Either set shouldDecrementDesiredCapacity flag to false or lower group's min size.`,
        );
      }
      group.desired -= 1;
    }
    this.beginTermination(member);
    this.reconcile(group);
  }

  /** Lifecycle actions still waiting (for invariants: none should be left at the end of a run). */
  pendingActions(): {
    instanceId: string;
    hook: string;
    transition: Transition;
    token: string;
    deadline: number;
  }[] {
    this.settle();
    return this.actions
      .filter((a) => a.result === undefined)
      .map((a) => ({
        instanceId: a.instanceId,
        hook: a.hook,
        transition: a.transition,
        token: a.token,
        deadline: a.deadline,
      }));
  }

  /** Lifecycle actions that reached their timeout and got the hook's default result. */
  timedOutActions(): {
    instanceId: string;
    hook: string;
    transition: Transition;
    result: LifecycleResult;
    at: number;
  }[] {
    this.settle();
    return this.actions
      .filter((a) => a.timedOut)
      .map((a) => ({
        instanceId: a.instanceId,
        hook: a.hook,
        transition: a.transition,
        result: a.result ?? a.defaultResult,
        at: a.endedAt ?? 0,
      }));
  }

  /** Every lifecycle action so far (completed ones included). */
  lifecycleActions(): LifecycleAction[] {
    this.settle();
    return this.actions.map((a) => ({ ...a }));
  }

  /** The instance's lifecycle state, `Terminated` once it left its group, undefined if never a member. */
  lifecycleState(instanceId: string): LifecycleState | undefined {
    this.settle();
    return this.members.get(instanceId)?.state;
  }

  /** Ids of a group's instances (not yet terminated), launch order. */
  instanceIds(groupName: string): string[] {
    this.settle();
    return this.groupMembers(groupName).map((m) => m.instanceId);
  }

  /** A group's instances (not yet terminated), launch order, with their lifecycle state. */
  groupInstances(groupName: string): {
    instanceId: string;
    lifecycleState: LifecycleState;
    availabilityZone: string;
    healthStatus: 'Healthy' | 'Unhealthy';
  }[] {
    this.settle();
    return this.groupMembers(groupName).map((m) => ({
      instanceId: m.instanceId,
      lifecycleState: m.state,
      availabilityZone: m.availabilityZone,
      healthStatus: m.health,
    }));
  }

  desiredCapacity(groupName: string): number {
    return this.group(groupName).desired;
  }

  // ---- the API ----------------------------------------------------------------------------------

  handle(operation: string, input: Record<string, unknown>): unknown {
    this.settle();
    switch (operation) {
      case 'CompleteLifecycleAction':
        return this.completeLifecycleAction(input as unknown as CompleteLifecycleActionType);
      case 'RecordLifecycleActionHeartbeat':
        return this.recordHeartbeat(input as unknown as RecordLifecycleActionHeartbeatType);
      case 'DescribeAutoScalingInstances':
        return this.describeAutoScalingInstances(input as unknown as DescribeAutoScalingInstancesType);
      case 'DescribeAutoScalingGroups':
        return this.describeAutoScalingGroups(input as unknown as AutoScalingGroupNamesType);
      case 'PutLifecycleHook':
        this.putHook(this.groupOrFail(input.AutoScalingGroupName), input as unknown as PutLifecycleHookType);
        return {};
      case 'DescribeLifecycleHooks':
        return this.describeLifecycleHooks(input as unknown as DescribeLifecycleHooksType);
      case 'DeleteLifecycleHook':
        return this.deleteLifecycleHook(input as unknown as DeleteLifecycleHookType);
      case 'SetInstanceHealth':
        return this.setInstanceHealth(input as unknown as SetInstanceHealthQuery);
      case 'SetDesiredCapacity': {
        const i = input as unknown as SetDesiredCapacityType;
        this.setDesiredCapacity(this.groupOrFail(i.AutoScalingGroupName), i.DesiredCapacity ?? -1);
        return {};
      }
      case 'TerminateInstanceInAutoScalingGroup':
        return this.terminateInstanceInGroup(input as unknown as TerminateInstanceInAutoScalingGroupType);
      default:
        return unknownOperation('autoscaling', operation);
    }
  }

  private completeLifecycleAction(input: CompleteLifecycleActionType): unknown {
    const group = this.groupOrFail(input.AutoScalingGroupName);
    this.hookOrFail(group, input.LifecycleHookName);
    const result = input.LifecycleActionResult;
    if (result !== 'CONTINUE' && result !== 'ABANDON') {
      throw fail(
        'ValidationError',
        `Invalid value ${String(result)} for LifecycleActionResult: expected CONTINUE or ABANDON`,
      );
    }
    const action = this.activeAction(
      group.name,
      input.LifecycleHookName ?? '',
      input.LifecycleActionToken,
      input.InstanceId,
    );
    this.end(action, result, this.cloud.clock.now(), false);
    return {};
  }

  private recordHeartbeat(input: RecordLifecycleActionHeartbeatType): unknown {
    const group = this.groupOrFail(input.AutoScalingGroupName);
    const hook = this.hookOrFail(group, input.LifecycleHookName);
    const action = this.activeAction(group.name, hook.name, input.LifecycleActionToken, input.InstanceId);
    // The timeout restarts; the global timeout still bounds the total wait.
    action.deadline = Math.min(this.cloud.clock.now() + hook.heartbeatTimeout * 1000, action.globalDeadline);
    return {};
  }

  private activeAction(
    group: string,
    hook: string,
    token: string | undefined,
    instanceId: string | undefined,
  ): LifecycleAction {
    if (token === undefined && instanceId === undefined) {
      throw fail('ValidationError', 'Either LifecycleActionToken or InstanceId must be specified.');
    }
    const action = this.actions.find(
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

  private describeAutoScalingInstances(input: DescribeAutoScalingInstancesType): unknown {
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
    const members = [...this.live]
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

  private describeAutoScalingGroups(input: AutoScalingGroupNamesType): unknown {
    const max = input.MaxRecords;
    if (max !== undefined && (max < 1 || max > 100)) {
      throw fail(
        'ValidationError',
        `1 validation error detected: Value '${max}' at 'maxRecords' failed to satisfy constraint: Member must have value between 1 and 100`,
      );
    }
    const names = input.AutoScalingGroupNames;
    const groups = [...this.groups.values()]
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
        AvailabilityZones: [...new Set(g.subnetIds.map((s) => this.azOfSubnet(s)))],
        HealthCheckType: 'EC2',
        HealthCheckGracePeriod: 300,
        Instances: this.groupMembers(g.name).map((m) => ({
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
        ServiceLinkedRoleARN: `arn:aws:iam::${this.cloud.account}:role/aws-service-role/autoscaling.amazonaws.com/AWSServiceRoleForAutoScaling`,
      })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  private putHook(group: Group, input: PutLifecycleHookType): void {
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

  private describeLifecycleHooks(input: DescribeLifecycleHooksType): unknown {
    const group = this.groupOrFail(input.AutoScalingGroupName);
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

  private deleteLifecycleHook(input: DeleteLifecycleHookType): unknown {
    const group = this.groupOrFail(input.AutoScalingGroupName);
    const hook = this.hookOrFail(group, input.LifecycleHookName);
    group.hooks.delete(hook.name);
    // "If there are any outstanding lifecycle actions, they are completed first (ABANDON for
    // launching instances, CONTINUE for terminating instances)." (DeleteLifecycleHook)
    for (const action of this.actions) {
      if (action.group === group.name && action.hook === hook.name && action.result === undefined) {
        const result = action.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING' ? 'ABANDON' : 'CONTINUE';
        this.end(action, result, this.cloud.clock.now(), false);
      }
    }
    return {};
  }

  private setInstanceHealth(input: SetInstanceHealthQuery): unknown {
    const member = this.member(input.InstanceId ?? '');
    const health = input.HealthStatus;
    if (health !== 'Healthy' && health !== 'Unhealthy') {
      throw fail('ValidationError', `Invalid HealthStatus ${String(health)}: expected Healthy or Unhealthy`);
    }
    if (member.state.startsWith('Terminating')) return {};
    member.health = health;
    if (health === 'Unhealthy' && member.state === 'InService') {
      // An unhealthy instance is replaced: terminated through its hooks, capacity kept.
      this.beginTermination(member);
      this.reconcile(this.group(member.group));
    }
    return {};
  }

  private terminateInstanceInGroup(input: TerminateInstanceInAutoScalingGroupType): unknown {
    const instanceId = input.InstanceId ?? '';
    const member = this.member(instanceId);
    const decrement = input.ShouldDecrementDesiredCapacity;
    if (decrement === undefined)
      throw fail('ValidationError', 'ShouldDecrementDesiredCapacity must be specified.');
    const now = this.cloud.clock.now();
    if (!member.state.startsWith('Terminating'))
      this.terminateInstance(instanceId, { decrementCapacity: decrement });
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

  private setDesiredCapacity(group: Group, desired: number): void {
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
    this.reconcile(group);
  }

  // ---- lifecycle --------------------------------------------------------------------------------

  /** Launches or terminates until the group's active instances equal its desired capacity. */
  private reconcile(group: Group): string[] {
    const launched: string[] = [];
    const active = () => this.groupMembers(group.name).filter((m) => !m.state.startsWith('Terminating'));
    // With `replaceWhen: 'terminated'`, an instance still terminating holds its place.
    const counted = () =>
      this.replaceWhen === 'terminating' ? active().length : this.groupMembers(group.name).length;
    while (counted() < group.desired) launched.push(this.launch(group));
    let surplus = active().length - group.desired;
    while (surplus-- > 0) {
      const victim = this.pickVictim(active());
      if (!victim) break;
      this.beginTermination(victim);
    }
    return launched;
  }

  /** Default termination policy, simplified: the AZ with the most instances, then the oldest. */
  private pickVictim(members: Member[]): Member | undefined {
    const perAz = new Map<string, number>();
    for (const m of members) perAz.set(m.availabilityZone, (perAz.get(m.availabilityZone) ?? 0) + 1);
    return [...members].sort(
      (a, b) =>
        (perAz.get(b.availabilityZone) ?? 0) - (perAz.get(a.availabilityZone) ?? 0) ||
        a.launchedAt - b.launchedAt,
    )[0];
  }

  private launch(group: Group): string {
    const ec2 = ec2View(this.cloud);
    // Balance across AZs: the subnet whose AZ holds the fewest active instances of the group.
    const counts = new Map<string, number>();
    for (const m of this.groupMembers(group.name)) {
      if (!m.state.startsWith('Terminating'))
        counts.set(m.availabilityZone, (counts.get(m.availabilityZone) ?? 0) + 1);
    }
    const subnetId = [...group.subnetIds].sort(
      (a, b) => (counts.get(this.azOfSubnet(a)) ?? 0) - (counts.get(this.azOfSubnet(b)) ?? 0),
    )[0];
    if (!subnetId) throw new Error(`group ${group.name} has no subnet`);
    const now = this.cloud.clock.now();
    const instanceId = ec2.runInstance({
      subnetId,
      instanceType: group.instanceType,
      tags: { ...group.tags, ...group.launchTags, 'aws:autoscaling:groupName': group.name },
    });
    this.cloud.ssm.watch(instanceId, now);
    const member: Member = {
      instanceId,
      group: group.name,
      availabilityZone: ec2.instance(instanceId)?.availabilityZone ?? this.azOfSubnet(subnetId),
      instanceType: group.instanceType,
      state: 'Pending',
      health: 'Healthy',
      launchedAt: now,
    };
    this.members.set(instanceId, member);
    this.live.add(member);
    const hooks = [...group.hooks.values()].filter(
      (h) => h.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING',
    );
    if (hooks.length > 0) {
      member.state = 'Pending:Wait';
      for (const hook of hooks) this.startAction(group, member, hook);
    }
    this.advance(member);
    return instanceId;
  }

  private beginTermination(member: Member): void {
    if (member.state.startsWith('Terminating') || member.state === 'Terminated') return;
    const group = this.group(member.group);
    // Actions of a launch still waiting end here (the instance is going away).
    for (const a of this.actions) {
      if (a.instanceId === member.instanceId && a.result === undefined) {
        a.result = 'ABANDON';
        a.endedAt = this.cloud.clock.now();
      }
    }
    const hooks = member.abandoned
      ? [] // an abandoned launch is terminated without terminate hooks
      : [...group.hooks.values()].filter((h) => h.transition === 'autoscaling:EC2_INSTANCE_TERMINATING');
    if (hooks.length > 0) {
      member.state = 'Terminating:Wait';
      for (const hook of hooks) this.startAction(group, member, hook);
    } else {
      member.state = 'Terminating';
      this.proceedTermination(member);
    }
  }

  private proceedTermination(member: Member): void {
    member.state = 'Terminating:Proceed';
    const ec2 = ec2View(this.cloud);
    const state = ec2.instance(member.instanceId)?.state;
    if (state !== undefined && state !== 'shutting-down' && state !== 'terminated')
      ec2.terminateInstance(member.instanceId);
    this.advance(member);
  }

  private startAction(group: Group, member: Member, hook: Hook): void {
    const now = this.cloud.clock.now();
    this.seq++;
    const action: LifecycleAction = {
      token: uuid(`token:${this.seq}:${member.instanceId}:${hook.name}`),
      instanceId: member.instanceId,
      group: group.name,
      hook: hook.name,
      transition: hook.transition,
      startedAt: now,
      deadline: now + hook.heartbeatTimeout * 1000,
      globalDeadline: now + globalTimeoutSeconds(hook.heartbeatTimeout) * 1000,
      defaultResult: hook.defaultResult,
    };
    this.actions.push(action);
    const launching = hook.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING';
    // "Events are produced on a best-effort basis": a lost event leaves the action to its timeout
    // (or to whoever looks for waiting instances).
    if (this.lostEventRate > 0 && this.cloud.random.chance(this.lostEventRate)) {
      this.lostEvents.push({ instanceId: member.instanceId, hook: hook.name, transition: hook.transition });
      return;
    }
    this.cloud.events.put(
      'aws.autoscaling',
      launching ? 'EC2 Instance-launch Lifecycle Action' : 'EC2 Instance-terminate Lifecycle Action',
      {
        LifecycleActionToken: action.token,
        AutoScalingGroupName: group.name,
        LifecycleHookName: hook.name,
        EC2InstanceId: member.instanceId,
        LifecycleTransition: hook.transition,
        ...(hook.notificationMetadata !== undefined
          ? { NotificationMetadata: hook.notificationMetadata }
          : {}),
        Origin: launching ? 'EC2' : 'AutoScalingGroup',
        Destination: launching ? 'AutoScalingGroup' : 'EC2',
      },
      [group.arn],
    );
  }

  /** Ends an action (completed, or timed out with the hook's default result) and moves the instance. */
  private end(action: LifecycleAction, result: LifecycleResult, at: number, timedOut: boolean): void {
    action.result = result;
    action.endedAt = at;
    if (timedOut) action.timedOut = true;
    const member = this.members.get(action.instanceId);
    if (!member) return;
    const siblings = this.actions.filter(
      (a) => a.instanceId === action.instanceId && a.transition === action.transition,
    );
    if (action.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING') {
      if (member.state !== 'Pending:Wait') return;
      if (result === 'ABANDON') {
        // "ABANDON: the instance is terminated and a replacement launched"
        member.abandoned = true;
        this.beginTermination(member);
        this.reconcile(this.group(member.group));
        return;
      }
      if (siblings.some((a) => a.result === undefined)) return;
      member.state = 'Pending:Proceed';
      this.advance(member);
    } else {
      if (member.state !== 'Terminating:Wait') return;
      if (siblings.some((a) => a.result === undefined)) return;
      this.proceedTermination(member);
    }
  }

  /** Moves an instance along with its EC2 instance: Pending(:Proceed) → InService, Terminating:Proceed → gone. */
  private advance(member: Member): void {
    // Just the state (no view built): every call settles, for every live member.
    const state = this.cloud.ec2.instanceState(member.instanceId);
    if ((member.state === 'Pending' || member.state === 'Pending:Proceed') && state === 'running') {
      member.state = 'InService';
    }
    if (member.state === 'Terminating:Proceed' && (state === 'terminated' || state === undefined)) {
      member.state = 'Terminated';
      this.live.delete(member);
      if (this.replaceWhen === 'terminated') this.reconcile(this.group(member.group));
    }
    // An instance that EC2 stopped or terminated behind the group's back is unhealthy and replaced:
    // "If the instance is in any state other than running ... Amazon EC2 Auto Scaling considers the
    // instance to be unhealthy" (EC2 Auto Scaling User Guide, "Health checks for instances in an
    // Auto Scaling group", Amazon EC2 status checks). A stopped member goes through its hooks.
    if (
      !member.state.startsWith('Terminating') &&
      member.state !== 'Terminated' &&
      (state === 'shutting-down' || state === 'terminated' || state === 'stopping' || state === 'stopped')
    ) {
      member.health = 'Unhealthy';
      this.beginTermination(member);
      this.reconcile(this.group(member.group));
    }
  }

  /** Applies what the clock says: expired heartbeats (default results), boots, terminations. */
  settle(): void {
    if (this.settling) return;
    this.settling = true;
    try {
      const now = this.cloud.clock.now();
      for (;;) {
        while (this.actions[this.firstOpenAction]?.result !== undefined) this.firstOpenAction++;
        // The earliest expired action first, so that consequences happen in time order.
        let due: LifecycleAction | undefined;
        for (let i = this.firstOpenAction; i < this.actions.length; i++) {
          const a = this.actions[i];
          if (!a || a.result !== undefined || Math.min(a.deadline, a.globalDeadline) > now) continue;
          if (!due || Math.min(a.deadline, a.globalDeadline) < Math.min(due.deadline, due.globalDeadline))
            due = a;
        }
        if (!due) break;
        this.end(due, due.defaultResult, Math.min(due.deadline, due.globalDeadline), true);
      }
      for (const member of [...this.live]) if (member.state !== 'Terminated') this.advance(member);
    } finally {
      this.settling = false;
    }
  }

  // ---- helpers ----------------------------------------------------------------------------------

  private groupMembers(groupName: string): Member[] {
    return [...this.live]
      .filter((m) => m.group === groupName && m.state !== 'Terminated')
      .sort((a, b) => a.launchedAt - b.launchedAt);
  }

  private group(name: string): Group {
    const group = this.groups.get(name);
    if (!group)
      throw fail('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return group;
  }

  private groupOrFail(name: unknown): Group {
    if (typeof name !== 'string' || name === '') {
      throw fail(
        'ValidationError',
        "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null",
      );
    }
    return this.group(name);
  }

  private hookOrFail(group: Group, name: string | undefined): Hook {
    const hook = name === undefined ? undefined : group.hooks.get(name);
    if (!hook)
      throw fail(
        'ValidationError',
        `No Lifecycle Hook found with name ${String(name)} for group ${group.name}`,
      );
    return hook;
  }

  private member(instanceId: string): Member {
    const member = this.members.get(instanceId);
    if (!member || member.state === 'Terminated') {
      throw fail(
        'ValidationError',
        `Instance Id not found - No managed instance found for instance ID: ${instanceId}`,
      );
    }
    return member;
  }

  private azOfSubnet(subnetId: string): string {
    const out = this.cloud.ec2.handle('DescribeSubnets', { SubnetIds: [subnetId] }) as {
      Subnets?: { AvailabilityZone?: string }[];
    };
    return out.Subnets?.[0]?.AvailabilityZone ?? subnetId;
  }
}

/** "The maximum amount of time that you can keep an instance in a wait state is 48 hours or 100
 * times the heartbeat timeout, whichever is smaller." */
function globalTimeoutSeconds(heartbeatTimeout: number): number {
  return Math.min(MAX_GLOBAL_TIMEOUT_S, 100 * heartbeatTimeout);
}

/** Tag filters of DescribeAutoScalingGroups: `tag-key`, `tag-value`, `tag:<key>`. */
function matchesFilters(tags: Record<string, string>, filters: Filter[]): boolean {
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

/** A UUID-shaped id derived from a seed (deterministic, unguessable enough for a test double). */
function uuid(seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}
