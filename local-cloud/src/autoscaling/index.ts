import type {
  AutoScalingGroupNamesType,
  CompleteLifecycleActionType,
  DeleteLifecycleHookType,
  DescribeAutoScalingInstancesType,
  DescribeLifecycleHooksType,
  PutLifecycleHookType,
  RecordLifecycleActionHeartbeatType,
  SetDesiredCapacityType,
  SetInstanceHealthQuery,
  TerminateInstanceInAutoScalingGroupType,
} from '@aws-sdk/client-auto-scaling';
import type { LocalCloud } from '../index';
import { unknownOperation, type ServiceModel } from '../transport';
import * as groups from './groups';
import * as hooks from './hooks';
import * as lifecycle from './lifecycle';
import type { GroupOptions, LifecycleAction, LifecycleResult, LifecycleState, Transition } from './records';
import { AutoScalingState, type AutoScalingSettings } from './state';

export type {
  GroupOptions,
  HookOptions,
  LifecycleAction,
  LifecycleResult,
  LifecycleState,
  Transition,
} from './records';

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
//
// Layout: this file is the façade (the public methods and the dispatch) over AutoScalingState;
// `groups.ts` (groups, instances, capacity, health), `hooks.ts` (lifecycle hooks, complete and
// heartbeat), `lifecycle.ts` (launch, termination, actions and their timeouts), `records.ts`.
export class AutoScalingModel implements ServiceModel, AutoScalingSettings {
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
  private readonly state: AutoScalingState;

  constructor(readonly cloud: LocalCloud) {
    this.state = new AutoScalingState(cloud, this);
    cloud.events.addSettler(() => this.settle());
  }

  // ---- seeding and scaling (not AWS calls) ------------------------------------------------------

  /** Creates a group and launches its desired capacity. */
  createGroup(options: GroupOptions): void {
    groups.createGroup(this.state, options);
  }

  /** Scale out by `n` (desired capacity grows by `n`, within MaxSize). Returns the new instance ids. */
  launchInstances(groupName: string, n: number): string[] {
    this.settle();
    const group = this.state.group(groupName);
    if (group.desired + n > group.max) group.max = group.desired + n;
    group.desired += n;
    return lifecycle.reconcile(this.state, group);
  }

  /** Sets the desired capacity: launches, or terminates (default termination policy), to reach it. */
  setDesired(groupName: string, desired: number): void {
    this.settle();
    const group = this.state.group(groupName);
    groups.setDesiredCapacity(this.state, group, desired);
  }

  /**
   * Terminates a group member as TerminateInstanceInAutoScalingGroup does: through its terminate
   * hooks; replaced unless `decrementCapacity`.
   */
  terminateInstance(instanceId: string, options: { decrementCapacity?: boolean } = {}): void {
    groups.terminateInstance(this.state, instanceId, options);
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
    return this.state.actions
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
    return this.state.actions
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
    return this.state.actions.map((a) => ({ ...a }));
  }

  /** The instance's lifecycle state, `Terminated` once it left its group, undefined if never a member. */
  lifecycleState(instanceId: string): LifecycleState | undefined {
    this.settle();
    return this.state.members.get(instanceId)?.state;
  }

  /** Ids of a group's instances (not yet terminated), launch order. */
  instanceIds(groupName: string): string[] {
    this.settle();
    return this.state.groupMembers(groupName).map((m) => m.instanceId);
  }

  /** A group's instances (not yet terminated), launch order, with their lifecycle state. */
  groupInstances(groupName: string): {
    instanceId: string;
    lifecycleState: LifecycleState;
    availabilityZone: string;
    healthStatus: 'Healthy' | 'Unhealthy';
  }[] {
    this.settle();
    return this.state.groupMembers(groupName).map((m) => ({
      instanceId: m.instanceId,
      lifecycleState: m.state,
      availabilityZone: m.availabilityZone,
      healthStatus: m.health,
    }));
  }

  desiredCapacity(groupName: string): number {
    return this.state.group(groupName).desired;
  }

  // ---- the API ----------------------------------------------------------------------------------

  handle(operation: string, input: Record<string, unknown>): unknown {
    this.settle();
    const asg = this.state;
    switch (operation) {
      case 'CompleteLifecycleAction':
        return hooks.completeLifecycleAction(asg, input as unknown as CompleteLifecycleActionType);
      case 'RecordLifecycleActionHeartbeat':
        return hooks.recordHeartbeat(asg, input as unknown as RecordLifecycleActionHeartbeatType);
      case 'DescribeAutoScalingInstances':
        return groups.describeAutoScalingInstances(asg, input as unknown as DescribeAutoScalingInstancesType);
      case 'DescribeAutoScalingGroups':
        return groups.describeAutoScalingGroups(asg, input as unknown as AutoScalingGroupNamesType);
      case 'PutLifecycleHook':
        hooks.putHook(asg.groupOrFail(input.AutoScalingGroupName), input as unknown as PutLifecycleHookType);
        return {};
      case 'DescribeLifecycleHooks':
        return hooks.describeLifecycleHooks(asg, input as unknown as DescribeLifecycleHooksType);
      case 'DeleteLifecycleHook':
        return hooks.deleteLifecycleHook(asg, input as unknown as DeleteLifecycleHookType);
      case 'SetInstanceHealth':
        return groups.setInstanceHealth(asg, input as unknown as SetInstanceHealthQuery);
      case 'SetDesiredCapacity': {
        const i = input as unknown as SetDesiredCapacityType;
        groups.setDesiredCapacity(asg, asg.groupOrFail(i.AutoScalingGroupName), i.DesiredCapacity ?? -1);
        return {};
      }
      case 'TerminateInstanceInAutoScalingGroup':
        return groups.terminateInstanceInGroup(
          asg,
          input as unknown as TerminateInstanceInAutoScalingGroupType,
        );
      default:
        return unknownOperation('autoscaling', operation);
    }
  }

  /** Applies what the clock says: expired heartbeats (default results), boots, terminations. */
  settle(): void {
    lifecycle.settle(this.state);
  }
}
