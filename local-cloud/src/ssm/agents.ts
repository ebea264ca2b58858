/** SSM agents: registration, faults, DescribeInstanceInformation. */
import type { DescribeInstanceInformationRequest } from '@aws-sdk/client-ssm';
import { fail } from '../errors';
import type { LocalCloud } from '../index';
import { paginate } from '../paging';
import { ec2View, toMs, type AgentFault } from './records';
import type { SsmState } from './state';

// Agents register late, lose their connection for minutes, or never register: instances whose
// agent is not Online do not appear Online in DescribeInstanceInformation, and SendCommand answers
// InvalidInstanceId for them ("Instances ... not in a valid state", SendCommand API reference,
// InvalidInstanceId: "The SSM Agent is not registered ... or ... not running"). A command whose
// agent goes offline while it is pending or running stays Pending/InProgress until the agent is
// back (the agent reports the result when it reconnects).

/**
 * Tells the model when an instance was launched (the Auto Scaling model does, for every instance
 * it launches), so that its agent comes online `instanceBootMs + agentOnlineDelayMs` later.
 * Instances nobody announced count from the first time this model sees them.
 */
export function watch(ssm: SsmState, instanceId: string, launchedAt = ssm.cloud.clock.now()): void {
  if (!ssm.launchedAt.has(instanceId)) ssm.launchedAt.set(instanceId, launchedAt);
}

export function agentFault(ssm: SsmState, instanceId: string): AgentFault {
  let fault = ssm.agentFaults.get(instanceId);
  if (!fault) ssm.agentFaults.set(instanceId, (fault = { lateMs: 0, never: false, offline: [] }));
  return fault;
}

/** The instance's agent registers `delayMs` later than it would. */
export function agentLate(ssm: SsmState, instanceId: string, delayMs: number): void {
  agentFault(ssm, instanceId).lateMs += Math.max(0, delayMs);
}

/** The instance's agent never registers (a broken AMI, no route to the SSM endpoints). */
export function agentNever(ssm: SsmState, instanceId: string): void {
  agentFault(ssm, instanceId).never = true;
}

/** The instance's agent loses its connection from `fromMs` (epoch ms, virtual) for `durationMs`. */
export function agentOffline(ssm: SsmState, instanceId: string, fromMs: number, durationMs: number): void {
  agentFault(ssm, instanceId).offline.push({ from: fromMs, to: fromMs + Math.max(0, durationMs) });
}

/** The offline window of this instance's agent at `at`, if any. */
export function offlineAt(
  ssm: SsmState,
  instanceId: string,
  at: number,
): { from: number; to: number } | undefined {
  return ssm.agentFaults.get(instanceId)?.offline.find((w) => w.from <= at && at < w.to);
}

/** When the instance's agent is (or will be) online; undefined for an unknown instance. */
export function agentOnlineAt(ssm: SsmState, instanceId: string): number | undefined {
  const ec2 = ec2View(ssm.cloud);
  const instance = ec2.instance(instanceId);
  if (!instance) return undefined;
  const now = ssm.cloud.clock.now();
  const bootMs = ec2.timing?.instanceBootMs ?? 0;
  if (instance.launchTime !== undefined) watch(ssm, instanceId, toMs(instance.launchTime));
  if (!ssm.launchedAt.has(instanceId)) {
    const launchTime = launchTimeOf(ssm.cloud, instanceId);
    if (launchTime !== undefined) watch(ssm, instanceId, launchTime);
  }
  if (!ssm.launchedAt.has(instanceId)) {
    // First sight: a pending instance launched about now; a running one has been running since now.
    ssm.launchedAt.set(instanceId, instance.state === 'pending' ? now : now - bootMs);
  }
  const fault = ssm.agentFaults.get(instanceId);
  if (fault?.never) return undefined;
  return (
    (ssm.launchedAt.get(instanceId) ?? now) + bootMs + ssm.settings.agentOnlineDelayMs + (fault?.lateMs ?? 0)
  );
}

export function pingStatus(ssm: SsmState, instanceId: string): 'Online' | 'ConnectionLost' | undefined {
  const instance = ec2View(ssm.cloud).instance(instanceId);
  if (!instance || instance.state === 'terminated') return undefined;
  const online = agentOnlineAt(ssm, instanceId);
  if (instance.state === 'running') {
    if (online === undefined || online > ssm.cloud.clock.now()) return undefined;
    return offlineAt(ssm, instanceId, ssm.cloud.clock.now()) ? 'ConnectionLost' : 'Online';
  }
  // stopping/stopped/shutting-down: an agent that had registered has lost its connection
  return online !== undefined && online <= ssm.cloud.clock.now() ? 'ConnectionLost' : undefined;
}

export function describeInstanceInformation(
  ssm: SsmState,
  input: DescribeInstanceInformationRequest,
): unknown {
  if (input.Filters?.length && input.InstanceInformationFilterList?.length) {
    throw fail('InvalidFilter', 'Filters and InstanceInformationFilterList cannot be used together.');
  }
  if (input.MaxResults !== undefined && (input.MaxResults < 5 || input.MaxResults > 50)) {
    throw fail(
      'ValidationException',
      `1 validation error detected: Value '${input.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 5 and 50`,
    );
  }
  const filters: { key: string; values: string[] }[] = [
    ...(input.Filters ?? []).map((f) => ({ key: f.Key ?? '', values: f.Values ?? [] })),
    ...(input.InstanceInformationFilterList ?? []).map((f) => ({
      key: f.key ?? '',
      values: f.valueSet ?? [],
    })),
  ];
  // With an InstanceIds filter, only those instances are looked at (not a view of every instance
  // of the run, on every call).
  const only = filters.find((f) => f.key === 'InstanceIds')?.values;
  const ec2 = ec2View(ssm.cloud);
  let ids =
    only && ec2.instances
      ? only.filter((id, i) => only.indexOf(id) === i && ec2.instance(id) !== undefined)
      : (ec2.instances?.().map((i) => i.instanceId) ?? [...ssm.launchedAt.keys()]);
  for (const filter of filters) {
    if (filter.key === 'InstanceIds') {
      ids = ids.filter((id) => filter.values.includes(id));
    } else if (!['PingStatus', 'PlatformTypes', 'ResourceType', 'AgentVersion'].includes(filter.key)) {
      throw fail('InvalidFilterKey', `The filter key ${filter.key} is not valid.`);
    }
  }
  const rows = [];
  for (const id of ids.sort()) {
    const status = pingStatus(ssm, id);
    if (!status) continue;
    const instance = ec2View(ssm.cloud).instance(id);
    const row = {
      InstanceId: id,
      PingStatus: status,
      LastPingDateTime: new Date(ssm.cloud.clock.now()),
      AgentVersion: '3.3.1142.0',
      IsLatestVersion: true,
      PlatformType: 'Linux',
      PlatformName: 'Amazon Linux',
      PlatformVersion: '2023',
      ResourceType: 'EC2Instance',
      IPAddress: instance?.privateIp,
      ComputerName: instance?.privateIp ? `ip-${instance.privateIp.replace(/\./g, '-')}.ec2.internal` : id,
    };
    const keep = filters.every((f) => {
      if (f.key === 'PingStatus') return f.values.includes(row.PingStatus);
      if (f.key === 'PlatformTypes') return f.values.includes(row.PlatformType);
      if (f.key === 'ResourceType') return f.values.includes(row.ResourceType);
      if (f.key === 'AgentVersion') return f.values.includes(row.AgentVersion);
      return true;
    });
    if (keep) rows.push(row);
  }
  const { page, nextToken } = paginate(rows, input.MaxResults, input.NextToken, { min: 5, max: 50 });
  return { InstanceInformationList: page, ...(nextToken ? { NextToken: nextToken } : {}) };
}

/** The instance's LaunchTime as DescribeInstances reports it (asked of the model, not counted). */
export function launchTimeOf(cloud: LocalCloud, instanceId: string): number | undefined {
  try {
    const out = cloud.ec2.peek('DescribeInstances', { InstanceIds: [instanceId] }) as {
      Reservations?: { Instances?: { InstanceId?: string; LaunchTime?: Date | string | number }[] }[];
    };
    const found = out.Reservations?.flatMap((r) => r.Instances ?? []).find(
      (i) => i.InstanceId === instanceId,
    );
    return found?.LaunchTime === undefined ? undefined : toMs(found.LaunchTime);
  } catch {
    return undefined;
  }
}
