/** The lifecycle: launches, terminations, lifecycle actions and their timeouts, settled from the clock. */
import { ec2View } from '../ssm';
import {
  globalTimeoutSeconds,
  uuid,
  type Group,
  type Hook,
  type LifecycleAction,
  type LifecycleResult,
  type Member,
} from './records';
import type { AutoScalingState } from './state';

/** Launches or terminates until the group's active instances equal its desired capacity. */
export function reconcile(asg: AutoScalingState, group: Group): string[] {
  const launched: string[] = [];
  const active = () => asg.groupMembers(group.name).filter((m) => !m.state.startsWith('Terminating'));
  // With `replaceWhen: 'terminated'`, an instance still terminating holds its place.
  const counted = () =>
    asg.settings.replaceWhen === 'terminating' ? active().length : asg.groupMembers(group.name).length;
  while (counted() < group.desired) launched.push(launch(asg, group));
  let surplus = active().length - group.desired;
  while (surplus-- > 0) {
    const victim = pickVictim(active());
    if (!victim) break;
    beginTermination(asg, victim);
  }
  return launched;
}

/** Default termination policy, simplified: the AZ with the most instances, then the oldest. */
export function pickVictim(members: Member[]): Member | undefined {
  const perAz = new Map<string, number>();
  for (const m of members) perAz.set(m.availabilityZone, (perAz.get(m.availabilityZone) ?? 0) + 1);
  return [...members].sort(
    (a, b) =>
      (perAz.get(b.availabilityZone) ?? 0) - (perAz.get(a.availabilityZone) ?? 0) ||
      a.launchedAt - b.launchedAt,
  )[0];
}

export function launch(asg: AutoScalingState, group: Group): string {
  const ec2 = ec2View(asg.cloud);
  // Balance across AZs: the subnet whose AZ holds the fewest active instances of the group.
  const counts = new Map<string, number>();
  for (const m of asg.groupMembers(group.name)) {
    if (!m.state.startsWith('Terminating'))
      counts.set(m.availabilityZone, (counts.get(m.availabilityZone) ?? 0) + 1);
  }
  const subnetId = [...group.subnetIds].sort(
    (a, b) => (counts.get(asg.azOfSubnet(a)) ?? 0) - (counts.get(asg.azOfSubnet(b)) ?? 0),
  )[0];
  if (!subnetId) throw new Error(`group ${group.name} has no subnet`);
  const now = asg.cloud.clock.now();
  const instanceId = ec2.runInstance({
    subnetId,
    instanceType: group.instanceType,
    tags: { ...group.tags, ...group.launchTags, 'aws:autoscaling:groupName': group.name },
  });
  asg.cloud.ssm.watch(instanceId, now);
  const member: Member = {
    instanceId,
    group: group.name,
    availabilityZone: ec2.instance(instanceId)?.availabilityZone ?? asg.azOfSubnet(subnetId),
    instanceType: group.instanceType,
    state: 'Pending',
    health: 'Healthy',
    launchedAt: now,
  };
  asg.members.set(instanceId, member);
  asg.live.add(member);
  const hooks = [...group.hooks.values()].filter(
    (h) => h.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING',
  );
  if (hooks.length > 0) {
    member.state = 'Pending:Wait';
    for (const hook of hooks) startAction(asg, group, member, hook);
  }
  advance(asg, member);
  return instanceId;
}

export function beginTermination(asg: AutoScalingState, member: Member): void {
  if (member.state.startsWith('Terminating') || member.state === 'Terminated') return;
  const group = asg.group(member.group);
  // Actions of a launch still waiting end here (the instance is going away).
  for (const a of asg.actions) {
    if (a.instanceId === member.instanceId && a.result === undefined) {
      a.result = 'ABANDON';
      a.endedAt = asg.cloud.clock.now();
    }
  }
  const hooks = member.abandoned
    ? [] // an abandoned launch is terminated without terminate hooks
    : [...group.hooks.values()].filter((h) => h.transition === 'autoscaling:EC2_INSTANCE_TERMINATING');
  if (hooks.length > 0) {
    member.state = 'Terminating:Wait';
    for (const hook of hooks) startAction(asg, group, member, hook);
  } else {
    member.state = 'Terminating';
    proceedTermination(asg, member);
  }
}

export function proceedTermination(asg: AutoScalingState, member: Member): void {
  member.state = 'Terminating:Proceed';
  const ec2 = ec2View(asg.cloud);
  const state = ec2.instance(member.instanceId)?.state;
  if (state !== undefined && state !== 'shutting-down' && state !== 'terminated')
    ec2.terminateInstance(member.instanceId);
  advance(asg, member);
}

export function startAction(asg: AutoScalingState, group: Group, member: Member, hook: Hook): void {
  const now = asg.cloud.clock.now();
  asg.seq++;
  const action: LifecycleAction = {
    token: uuid(`token:${asg.seq}:${member.instanceId}:${hook.name}`),
    instanceId: member.instanceId,
    group: group.name,
    hook: hook.name,
    transition: hook.transition,
    startedAt: now,
    deadline: now + hook.heartbeatTimeout * 1000,
    globalDeadline: now + globalTimeoutSeconds(hook.heartbeatTimeout) * 1000,
    defaultResult: hook.defaultResult,
  };
  asg.actions.push(action);
  const launching = hook.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING';
  // "Events are produced on a best-effort basis": a lost event leaves the action to its timeout
  // (or to whoever looks for waiting instances).
  if (asg.settings.lostEventRate > 0 && asg.cloud.random.chance(asg.settings.lostEventRate)) {
    asg.settings.lostEvents.push({
      instanceId: member.instanceId,
      hook: hook.name,
      transition: hook.transition,
    });
    return;
  }
  asg.cloud.events.put(
    'aws.autoscaling',
    launching ? 'EC2 Instance-launch Lifecycle Action' : 'EC2 Instance-terminate Lifecycle Action',
    {
      LifecycleActionToken: action.token,
      AutoScalingGroupName: group.name,
      LifecycleHookName: hook.name,
      EC2InstanceId: member.instanceId,
      LifecycleTransition: hook.transition,
      ...(hook.notificationMetadata !== undefined ? { NotificationMetadata: hook.notificationMetadata } : {}),
      Origin: launching ? 'EC2' : 'AutoScalingGroup',
      Destination: launching ? 'AutoScalingGroup' : 'EC2',
    },
    [group.arn],
  );
}

/** Ends an action (completed, or timed out with the hook's default result) and moves the instance. */
export function end(
  asg: AutoScalingState,
  action: LifecycleAction,
  result: LifecycleResult,
  at: number,
  timedOut: boolean,
): void {
  action.result = result;
  action.endedAt = at;
  if (timedOut) action.timedOut = true;
  const member = asg.members.get(action.instanceId);
  if (!member) return;
  const siblings = asg.actions.filter(
    (a) => a.instanceId === action.instanceId && a.transition === action.transition,
  );
  if (action.transition === 'autoscaling:EC2_INSTANCE_LAUNCHING') {
    if (member.state !== 'Pending:Wait') return;
    if (result === 'ABANDON') {
      // "ABANDON: the instance is terminated and a replacement launched"
      member.abandoned = true;
      beginTermination(asg, member);
      reconcile(asg, asg.group(member.group));
      return;
    }
    if (siblings.some((a) => a.result === undefined)) return;
    member.state = 'Pending:Proceed';
    advance(asg, member);
  } else {
    if (member.state !== 'Terminating:Wait') return;
    if (siblings.some((a) => a.result === undefined)) return;
    proceedTermination(asg, member);
  }
}

/** Moves an instance along with its EC2 instance: Pending(:Proceed) → InService, Terminating:Proceed → gone. */
export function advance(asg: AutoScalingState, member: Member): void {
  // Just the state (no view built): every call settles, for every live member.
  const state = asg.cloud.ec2.instanceState(member.instanceId);
  if ((member.state === 'Pending' || member.state === 'Pending:Proceed') && state === 'running') {
    member.state = 'InService';
  }
  if (member.state === 'Terminating:Proceed' && (state === 'terminated' || state === undefined)) {
    member.state = 'Terminated';
    asg.live.delete(member);
    if (asg.settings.replaceWhen === 'terminated') reconcile(asg, asg.group(member.group));
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
    beginTermination(asg, member);
    reconcile(asg, asg.group(member.group));
  }
}

/** Applies what the clock says: expired heartbeats (default results), boots, terminations. */
export function settle(asg: AutoScalingState): void {
  if (asg.settling) return;
  asg.settling = true;
  try {
    const now = asg.cloud.clock.now();
    for (;;) {
      while (asg.actions[asg.firstOpenAction]?.result !== undefined) asg.firstOpenAction++;
      // The earliest expired action first, so that consequences happen in time order.
      let due: LifecycleAction | undefined;
      for (let i = asg.firstOpenAction; i < asg.actions.length; i++) {
        const a = asg.actions[i];
        if (!a || a.result !== undefined || Math.min(a.deadline, a.globalDeadline) > now) continue;
        if (!due || Math.min(a.deadline, a.globalDeadline) < Math.min(due.deadline, due.globalDeadline))
          due = a;
      }
      if (!due) break;
      end(asg, due, due.defaultResult, Math.min(due.deadline, due.globalDeadline), true);
    }
    for (const member of [...asg.live]) if (member.state !== 'Terminated') advance(asg, member);
  } finally {
    asg.settling = false;
  }
}
