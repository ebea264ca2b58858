/** Run Command: SendCommand, invocations and their status, ListCommands/ListCommandInvocations, CancelCommand. */
import { basename } from 'node:path';
import type {
  CancelCommandRequest,
  GetCommandInvocationRequest,
  ListCommandInvocationsRequest,
  ListCommandsRequest,
  SendCommandRequest,
} from '@aws-sdk/client-ssm';
import { fail } from '../errors';
import type { ExecResult } from '../executors';
import { paginate } from '../paging';
import { pingStatus } from './agents';
import { resolveParameters } from './documents';
import {
  OUTPUT_LIMIT,
  PLUGIN_OUTPUT_LIMIT,
  type Command,
  type Document,
  type Invocation,
  type InvocationRecord,
  type InvocationStatus,
} from './records';
import type { SsmState } from './state';

export function sendCommand(ssm: SsmState, input: SendCommandRequest): unknown {
  const doc = ssm.document(input.DocumentName);
  if (input.Targets?.length)
    throw fail('InvalidTarget', 'Targets are not modelled by the local cloud: use InstanceIds.');
  const instanceIds = input.InstanceIds ?? [];
  if (instanceIds.length === 0)
    throw fail('ValidationException', 'InstanceIds or Targets must be specified.');
  if (instanceIds.length > 50) throw fail('ValidationException', 'At most 50 InstanceIds are allowed.');
  if (new Set(instanceIds).size !== instanceIds.length)
    throw fail('DuplicateInstanceId', 'Instance Id duplicated.');
  const timeoutSeconds = input.TimeoutSeconds ?? 3600;
  if (timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
    throw fail(
      'ValidationException',
      `1 validation error detected: Value '${timeoutSeconds}' at 'timeoutSeconds' failed to satisfy constraint: Member must have value between 30 and 2592000`,
    );
  }
  const values = resolveParameters(doc, input.Parameters ?? {});
  const now = ssm.cloud.clock.now();
  const offline = instanceIds.filter((id) => pingStatus(ssm, id) !== 'Online');
  if (offline.length > 0) {
    // AWS answers this until the agent has registered (and for unknown or stopped instances).
    throw fail(
      'InvalidInstanceId',
      `Instances [[${offline.join(', ')}]] not in a valid state for account ${ssm.cloud.account}`,
    );
  }
  ssm.commandSeq++;
  const commandId = `${ssm.commandSeq.toString(16).padStart(8, '0')}-0000-4000-8000-${now.toString(16).padStart(12, '0').slice(-12)}`;
  const command: Command = {
    commandId,
    documentName: doc.name,
    comment: input.Comment ?? '',
    parameters: Object.fromEntries(Object.entries(values).map(([k, v]) => [k, [v]])),
    instanceIds,
    requestedAt: now,
    timeoutSeconds,
  };
  ssm.commands.set(commandId, command);
  for (const instanceId of instanceIds) {
    const invocation: Invocation = {
      commandId,
      instanceId,
      documentName: doc.name,
      comment: command.comment,
      requestedAt: now,
      visibleAt: now + ssm.settings.invocationVisibleDelayMs,
      startAt: now + ssm.settings.deliveryDelayMs,
      timeoutMs: doc.executionTimeoutSeconds * 1000,
      parameters: values,
    };
    ssm.invocations.push(invocation);
    const run = takeTurn(ssm, doc, invocation);
    ssm.inFlight.add(run);
    void run.finally(() => ssm.inFlight.delete(run));
  }
  // SendCommand answers before any invocation has been picked up.
  return { Command: { ...describeCommand(ssm, command), Status: 'Pending', StatusDetails: 'Pending' } };
}

/**
 * Runs the invocation on its host. Every agent script (a document that runs a script file) holds
 * an exclusive flock on its host's lock for its whole run (agent-scripts/include/common.sh,
 * `take_host_lock`), so the scripts of one instance execute one after another, whoever sent them:
 * the model runs each after the previous one on that instance ended, in the order they were sent.
 * A script that would wait longer than `hostLockWaitMs` gives up as the scripts do: exit 5, code
 * `host-busy`, nothing done. Documents with inline commands run at once.
 */
function takeTurn(ssm: SsmState, doc: Document, invocation: Invocation): Promise<void> {
  const execute = async (): Promise<void> => {
    let result: ExecResult;
    try {
      result = await ssm.settings.executor.run({
        instanceId: invocation.instanceId,
        documentName: doc.name,
        scriptFile: doc.scriptFile,
        ...(doc.script !== undefined ? { script: doc.script } : {}),
        parameters: invocation.parameters,
        timeoutSeconds: doc.executionTimeoutSeconds,
      });
    } catch (error) {
      result = { exitCode: 1, stdout: '', stderr: `local cloud executor failed: ${String(error)}\n` };
    }
    invocation.result = result;
    invocation.resolvedAt = ssm.cloud.clock.now();
  };
  if (!doc.scriptFile) return execute();
  let turn = ssm.hostTurns.get(invocation.instanceId);
  if (!turn) ssm.hostTurns.set(invocation.instanceId, (turn = { tail: Promise.resolve(), freeAt: 0 }));
  const host = turn;
  const run = host.tail.then(async () => {
    const ranAt = Math.max(invocation.startAt, host.freeAt);
    const waitMs = ssm.settings.hostLockWaitMs;
    if (ranAt - invocation.startAt > waitMs) {
      invocation.result = {
        exitCode: 5,
        stdout: `${JSON.stringify({ ok: false, action: basename(doc.scriptFile).replace(/\.sh$/, ''), code: 'host-busy', error: `another berth step held the host lock for ${waitMs / 1000}s: nothing was done` })}\n`,
        stderr: '',
        durationMs: waitMs,
      };
      invocation.resolvedAt = ssm.cloud.clock.now();
      return;
    }
    invocation.ranAt = ranAt;
    await execute();
    host.freeAt = ranUntil(invocation) ?? host.freeAt;
  });
  host.tail = run;
  return run;
}

/** When the invocation's script stopped holding its host lock (undefined: it never held it). */
function ranUntil(inv: Invocation): number | undefined {
  if (inv.ranAt === undefined || !inv.result) return undefined;
  // The agent stops a script at the document's execution timeout, counted from its start.
  const timeoutEnd = inv.startAt + inv.timeoutMs;
  if (inv.result.timedOut) return Math.max(inv.resolvedAt ?? timeoutEnd, inv.ranAt);
  return Math.min(inv.ranAt + (inv.result.durationMs ?? 0), timeoutEnd);
}

export function invocationStatus(
  ssm: SsmState,
  inv: Invocation,
  now = ssm.cloud.clock.now(),
): { status: InvocationStatus; details: string; endAt?: number } {
  if (inv.cancelledAt !== undefined)
    return { status: 'Cancelled', details: 'Cancelled', endAt: inv.cancelledAt };
  if (now < inv.startAt) return { status: 'Pending', details: 'Pending' };
  if (!inv.result || inv.resolvedAt === undefined) {
    return { status: 'InProgress', details: 'InProgress' };
  }
  // An agent that lost its connection reports nothing until it is back: a result due within an
  // offline window arrives at the window's end.
  const window = ssm.agentFaults
    .get(inv.instanceId)
    ?.offline.find((w) => w.to > inv.startAt && w.from <= now);
  if (window) {
    const base = invocationStatus(ssm, { ...inv, instanceId: '' }, now);
    if (base.endAt === undefined || base.endAt < window.from) return base;
    if (now < window.to) return { status: 'InProgress', details: 'InProgress' };
    return { ...base, endAt: Math.max(base.endAt, window.to) };
  }
  // Counted from its start: the wait for the host lock is part of the script's run.
  const duration = (inv.ranAt ?? inv.startAt) - inv.startAt + (inv.result.durationMs ?? 0);
  if (inv.result.timedOut || duration > inv.timeoutMs) {
    const endAt = inv.result.timedOut ? Math.max(inv.resolvedAt, inv.startAt) : inv.startAt + inv.timeoutMs;
    return now < endAt
      ? { status: 'InProgress', details: 'InProgress' }
      : { status: 'TimedOut', details: 'ExecutionTimedOut', endAt };
  }
  const endAt = Math.max(inv.startAt + duration, inv.resolvedAt);
  if (now < endAt) return { status: 'InProgress', details: 'InProgress' };
  return inv.result.exitCode === 0
    ? { status: 'Success', details: 'Success', endAt }
    : { status: 'Failed', details: 'Failed', endAt };
}

export function getCommandInvocation(ssm: SsmState, input: GetCommandInvocationRequest): unknown {
  const now = ssm.cloud.clock.now();
  const inv = ssm.invocations.find(
    (i) => i.commandId === input.CommandId && i.instanceId === input.InstanceId,
  );
  if (!inv || now < inv.visibleAt) {
    throw fail(
      'InvocationDoesNotExist',
      "The command ID and instance ID you specified didn't match any invocations. Verify the command ID and the instance ID and try again.",
    );
  }
  if (input.PluginName !== undefined && input.PluginName !== 'run') {
    throw fail('InvalidPluginName', `The plugin name ${input.PluginName} is not valid.`);
  }
  const { status, details, endAt } = invocationStatus(ssm, inv, now);
  const final = endAt !== undefined;
  const started = now >= inv.startAt;
  return {
    CommandId: inv.commandId,
    InstanceId: inv.instanceId,
    Comment: inv.comment,
    DocumentName: inv.documentName,
    DocumentVersion: '$DEFAULT',
    PluginName: 'run',
    ResponseCode: final && status !== 'Cancelled' ? responseCode(inv) : -1,
    ExecutionStartDateTime: started ? new Date(inv.startAt).toISOString() : '',
    ExecutionElapsedTime: started
      ? `PT${((Math.min(now, endAt ?? now) - inv.startAt) / 1000).toFixed(3)}S`
      : '',
    ExecutionEndDateTime: final ? new Date(endAt).toISOString() : '',
    Status: status,
    StatusDetails: details,
    StandardOutputContent:
      final && status !== 'Cancelled' ? (inv.result?.stdout ?? '').slice(0, OUTPUT_LIMIT) : '',
    StandardOutputUrl: '',
    StandardErrorContent:
      final && status !== 'Cancelled' ? (inv.result?.stderr ?? '').slice(0, OUTPUT_LIMIT) : '',
    StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

export function responseCode(inv: Invocation): number {
  if (!inv.result) return -1;
  const duration = (inv.ranAt ?? inv.startAt) - inv.startAt + (inv.result.durationMs ?? 0);
  if (inv.result.timedOut || duration > inv.timeoutMs) return -1;
  return inv.result.exitCode;
}

export function listCommandInvocations(ssm: SsmState, input: ListCommandInvocationsRequest): unknown {
  if (input.MaxResults !== undefined && (input.MaxResults < 1 || input.MaxResults > 50)) {
    throw fail(
      'ValidationException',
      `1 validation error detected: Value '${input.MaxResults}' at 'maxResults' failed to satisfy constraint: Member must have value between 1 and 50`,
    );
  }
  if (input.CommandId !== undefined && !ssm.commands.has(input.CommandId)) {
    throw fail('InvalidCommandId', `Command ${input.CommandId} does not exist.`);
  }
  const now = ssm.cloud.clock.now();
  const filters = commandFilters(input.Filters);
  const rows = ssm.invocations
    .filter(
      (i) =>
        (input.CommandId === undefined || i.commandId === input.CommandId) &&
        (input.InstanceId === undefined || i.instanceId === input.InstanceId) &&
        (filters.DocumentName === undefined || i.documentName === filters.DocumentName) &&
        (filters.Status === undefined || invocationStatus(ssm, i, now).status === filters.Status),
    )
    .filter((i) => now >= i.visibleAt)
    .sort((a, b) => b.requestedAt - a.requestedAt)
    .map((inv) => {
      const { status, details, endAt } = invocationStatus(ssm, inv, now);
      const final = endAt !== undefined;
      return {
        CommandId: inv.commandId,
        InstanceId: inv.instanceId,
        InstanceName: '',
        Comment: inv.comment,
        DocumentName: inv.documentName,
        DocumentVersion: '$DEFAULT',
        RequestedDateTime: new Date(inv.requestedAt),
        Status: status,
        StatusDetails: details,
        TraceOutput: '',
        StandardOutputUrl: '',
        StandardErrorUrl: '',
        CommandPlugins: input.Details
          ? [
              {
                Name: 'run',
                Status: status,
                StatusDetails: details,
                ResponseCode: final && status !== 'Cancelled' ? responseCode(inv) : -1,
                ...(now >= inv.startAt ? { ResponseStartDateTime: new Date(inv.startAt) } : {}),
                ...(final ? { ResponseFinishDateTime: new Date(endAt) } : {}),
                Output:
                  final && status !== 'Cancelled'
                    ? (inv.result?.stdout ?? '').slice(0, PLUGIN_OUTPUT_LIMIT)
                    : '',
                StandardOutputUrl: '',
                StandardErrorUrl: '',
                OutputS3Region: ssm.cloud.region,
                OutputS3BucketName: '',
                OutputS3KeyPrefix: '',
              },
            ]
          : [],
        ServiceRole: '',
        NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
        CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
      };
    });
  const { page, nextToken } = paginate(rows, input.MaxResults, input.NextToken, { min: 1, max: 50 });
  return { CommandInvocations: page, ...(nextToken ? { NextToken: nextToken } : {}) };
}

export function listCommands(ssm: SsmState, input: ListCommandsRequest): unknown {
  if (input.CommandId !== undefined && !ssm.commands.has(input.CommandId)) {
    throw fail('InvalidCommandId', `Command ${input.CommandId} does not exist.`);
  }
  const rows = [...ssm.commands.values()]
    .filter(
      (c) =>
        (input.CommandId === undefined || c.commandId === input.CommandId) &&
        (input.InstanceId === undefined || c.instanceIds.includes(input.InstanceId)),
    )
    .sort((a, b) => b.requestedAt - a.requestedAt)
    .map((c) => describeCommand(ssm, c));
  const { page, nextToken } = paginate(rows, input.MaxResults, input.NextToken, { min: 1, max: 50 });
  return { Commands: page, ...(nextToken ? { NextToken: nextToken } : {}) };
}

export function cancelCommand(ssm: SsmState, input: CancelCommandRequest): unknown {
  const command = input.CommandId === undefined ? undefined : ssm.commands.get(input.CommandId);
  if (!command) throw fail('InvalidCommandId', `Command ${String(input.CommandId)} does not exist.`);
  const now = ssm.cloud.clock.now();
  for (const inv of ssm.invocations) {
    if (inv.commandId !== command.commandId) continue;
    if (input.InstanceIds?.length && !input.InstanceIds.includes(inv.instanceId)) continue;
    if (invocationStatus(ssm, inv, now).endAt === undefined) inv.cancelledAt = now;
  }
  return {};
}

export function describeCommand(ssm: SsmState, c: Command): Record<string, unknown> {
  const invs = ssm.invocations.filter((i) => i.commandId === c.commandId);
  const statuses = invs.map((i) => invocationStatus(ssm, i).status);
  const done = statuses.filter((s) => s !== 'Pending' && s !== 'InProgress');
  const errors = statuses.filter((s) => s === 'Failed' || s === 'TimedOut');
  const status =
    done.length < statuses.length
      ? statuses.includes('InProgress')
        ? 'InProgress'
        : 'Pending'
      : statuses.every((s) => s === 'Success')
        ? 'Success'
        : statuses.includes('Cancelled') && errors.length === 0
          ? 'Cancelled'
          : statuses.includes('TimedOut')
            ? 'TimedOut'
            : 'Failed';
  return {
    CommandId: c.commandId,
    DocumentName: c.documentName,
    DocumentVersion: '$DEFAULT',
    Comment: c.comment,
    ExpiresAfter: new Date(c.requestedAt + c.timeoutSeconds * 1000),
    Parameters: c.parameters,
    InstanceIds: c.instanceIds,
    Targets: [],
    RequestedDateTime: new Date(c.requestedAt),
    Status: status,
    StatusDetails: status,
    TargetCount: c.instanceIds.length,
    CompletedCount: done.length,
    ErrorCount: errors.length,
    DeliveryTimedOutCount: 0,
    MaxConcurrency: '50',
    MaxErrors: '0',
    TimeoutSeconds: c.timeoutSeconds,
    ServiceRole: '',
    NotificationConfig: { NotificationArn: '', NotificationEvents: [], NotificationType: '' },
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
}

/** Every invocation so far, with its status now (the campaign's command history). */
export function commandHistory(ssm: SsmState): InvocationRecord[] {
  const now = ssm.cloud.clock.now();
  return ssm.invocations.map((inv) => {
    const { status, endAt } = invocationStatus(ssm, inv, now);
    return {
      commandId: inv.commandId,
      instanceId: inv.instanceId,
      documentName: inv.documentName,
      parameters: inv.parameters,
      requestedAt: inv.requestedAt,
      startAt: inv.startAt,
      ranAt: inv.ranAt,
      ranUntil: ranUntil(inv),
      endAt,
      status,
    };
  });
}

/**
 * ListCommands / ListCommandInvocations `Filters` (API reference, CommandFilter): keys
 * InvokedAfter, InvokedBefore, Status, ExecutionStage, DocumentName, one value each. The model
 * reads DocumentName and Status; the other valid keys are refused as not modelled, and an unknown
 * key as AWS does (InvalidFilterKey).
 */
export function commandFilters(filters: { key?: string; value?: string }[] | undefined): {
  DocumentName?: string;
  Status?: string;
} {
  const out: { DocumentName?: string; Status?: string } = {};
  for (const filter of filters ?? []) {
    if (filter.key === 'DocumentName' || filter.key === 'Status') {
      if (!filter.value) throw fail('InvalidFilterValue', `The filter value for ${filter.key} is empty.`);
      out[filter.key] = filter.value;
    } else if (['InvokedAfter', 'InvokedBefore', 'ExecutionStage'].includes(filter.key ?? '')) {
      throw fail('InvalidFilterKey', `Filter key ${String(filter.key)} is not modelled by the local cloud.`);
    } else {
      throw fail('InvalidFilterKey', `Filter key ${String(filter.key)} is not valid.`);
    }
  }
  return out;
}
