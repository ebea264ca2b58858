import { fail } from '../errors';
import type { LocalCloud } from '../index';
import type { Group, Hook, LifecycleAction, Member, Transition } from './records';

/** What the Auto Scaling model's tunables are (the public, mutable fields of AutoScalingModel). */
export interface AutoScalingSettings {
  replaceWhen: 'terminating' | 'terminated';
  lostEventRate: number;
  readonly lostEvents: { instanceId: string; hook: string; transition: Transition }[];
}

/** The state the Auto Scaling modules work on: groups, members, lifecycle actions, and the lookups they share. */
export class AutoScalingState {
  groups = new Map<string, Group>();
  members = new Map<string, Member>();
  /**
   * Members not yet Terminated, and the index of the oldest action that may still be waiting: every
   * call settles the model, so settling reads these instead of every instance and action of the run
   * (a fault campaign makes thousands; a scan of all of them per call made long runs quadratic).
   */
  live = new Set<Member>();
  actions: LifecycleAction[] = [];
  firstOpenAction = 0;
  seq = 0;
  settling = false;

  constructor(
    readonly cloud: LocalCloud,
    readonly settings: AutoScalingSettings,
  ) {}

  groupMembers(groupName: string): Member[] {
    return [...this.live]
      .filter((m) => m.group === groupName && m.state !== 'Terminated')
      .sort((a, b) => a.launchedAt - b.launchedAt);
  }

  group(name: string): Group {
    const group = this.groups.get(name);
    if (!group)
      throw fail('ValidationError', `AutoScalingGroup name not found - AutoScalingGroup ${name} not found`);
    return group;
  }

  groupOrFail(name: unknown): Group {
    if (typeof name !== 'string' || name === '') {
      throw fail(
        'ValidationError',
        "1 validation error detected: Value null at 'autoScalingGroupName' failed to satisfy constraint: Member must not be null",
      );
    }
    return this.group(name);
  }

  hookOrFail(group: Group, name: string | undefined): Hook {
    const hook = name === undefined ? undefined : group.hooks.get(name);
    if (!hook)
      throw fail(
        'ValidationError',
        `No Lifecycle Hook found with name ${String(name)} for group ${group.name}`,
      );
    return hook;
  }

  member(instanceId: string): Member {
    const member = this.members.get(instanceId);
    if (!member || member.state === 'Terminated') {
      throw fail(
        'ValidationError',
        `Instance Id not found - No managed instance found for instance ID: ${instanceId}`,
      );
    }
    return member;
  }

  azOfSubnet(subnetId: string): string {
    const out = this.cloud.ec2.peek('DescribeSubnets', { SubnetIds: [subnetId] }) as {
      Subnets?: { AvailabilityZone?: string }[];
    };
    return out.Subnets?.[0]?.AvailabilityZone ?? subnetId;
  }
}
