import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { retrying } from './attachments';
import type { Deps } from './deps';
import { DocumentParameters, parseScriptResult, ScriptKey, ScriptResult, toSsmParameters } from './documents';
import { errorName, FinalError, RetryableError, TimeoutError } from './errors';

const POLL_MS = 2000;
const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Cancelling']);

export interface ScriptRun {
  commandId: string;
  status: string;
  result: ScriptResult | undefined;
  stderr: string;
}

/** Waits until the instance's SSM agent is Online (SendCommand answers InvalidInstanceId before). */
export async function waitForAgent(
  deps: Pick<Deps, 'ssm' | 'clock' | 'settings'>,
  instanceId: string,
): Promise<void> {
  const deadline = deps.clock.now() + deps.settings.timeouts.agentOnlineSeconds * 1000;
  for (;;) {
    const out = await retrying(deps, () =>
      deps.ssm.send(
        new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
      ),
    );
    if (out.InstanceInformationList?.some((i) => i.InstanceId === instanceId && i.PingStatus === 'Online'))
      return;
    if (deps.clock.now() >= deadline) {
      throw new TimeoutError(
        `SSM agent of ${instanceId} not online after ${deps.settings.timeouts.agentOnlineSeconds} s: check the instance role (AmazonSSMManagedInstanceCore) and that the agent runs`,
      );
    }
    await deps.clock.sleep(5000);
  }
}

/**
 * Waits while the instance runs an invocation of this document (Pending, InProgress or Delayed):
 * a duplicated or retried event must not send the same document to the same host while the first
 * may still run (both would act on the same devices at once). The newest 50 invocations of the
 * instance are looked at (ListCommandInvocations lists newest first).
 */
async function waitForInFlight(
  deps: Pick<Deps, 'ssm' | 'clock' | 'settings' | 'logger'>,
  instanceId: string,
  documentName: string,
  timeoutSeconds: number,
): Promise<void> {
  const deadline = deps.clock.now() + (timeoutSeconds + 60) * 1000;
  for (;;) {
    const out = await retrying(deps, () =>
      deps.ssm.send(new ListCommandInvocationsCommand({ InstanceId: instanceId, MaxResults: 50 })),
    );
    const running = (out.CommandInvocations ?? []).find(
      (i) =>
        i.DocumentName === documentName &&
        (i.Status === 'Pending' || i.Status === 'InProgress' || i.Status === 'Delayed'),
    );
    if (!running) return;
    if (deps.clock.now() >= deadline) {
      throw new TimeoutError(
        `${documentName} is still running on ${instanceId} (command ${running.CommandId ?? '?'}) after ${timeoutSeconds} s`,
      );
    }
    deps.logger.info('the same document runs on this host; waiting for it to end', {
      documentName,
      commandId: running.CommandId,
    });
    await deps.clock.sleep(POLL_MS * 5);
  }
}

/**
 * Runs one of berth's documents on an instance and waits for it: SendCommand (after the agent is
 * online), then GetCommandInvocation until a terminal status. Returns the script's JSON summary;
 * a failed script is a FinalError carrying the summary's error and stderr.
 */
export async function runScript<K extends ScriptKey>(
  deps: Pick<Deps, 'ssm' | 'clock' | 'settings' | 'logger'>,
  instanceId: string,
  script: K,
  parameters: DocumentParameters[K],
  options: { commandId?: string; timeoutSeconds?: number } = {},
): Promise<ScriptRun> {
  const documentName = deps.settings.documents[script];
  const timeoutSeconds = options.timeoutSeconds ?? deps.settings.timeouts.commandSeconds;
  let commandId = options.commandId;
  if (!commandId) {
    await waitForAgent(deps, instanceId);
    await waitForInFlight(deps, instanceId, documentName, timeoutSeconds);
    const sent = await retrying(deps, () =>
      deps.ssm.send(
        new SendCommandCommand({
          DocumentName: documentName,
          InstanceIds: [instanceId],
          Parameters: toSsmParameters(parameters),
          TimeoutSeconds: timeoutSeconds,
          Comment: `berth ${script} ${instanceId}`.slice(0, 100),
        }),
      ),
    );
    commandId = sent.Command?.CommandId;
    if (!commandId)
      throw new RetryableError(`SendCommand ${documentName} on ${instanceId} returned no CommandId`);
  }
  deps.logger.info('host step sent', { script, documentName, commandId });
  const deadline = deps.clock.now() + (timeoutSeconds + 60) * 1000;
  let invocation: GetCommandInvocationCommandOutput | undefined;
  for (;;) {
    await deps.clock.sleep(POLL_MS);
    try {
      const id = commandId;
      invocation = await retrying(deps, () =>
        deps.ssm.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: instanceId })),
      );
    } catch (error) {
      // Right after SendCommand the invocation may not exist yet (documented eventual consistency).
      if (errorName(error) !== 'InvocationDoesNotExist') throw error;
    }
    if (invocation?.Status && TERMINAL.has(invocation.Status)) break;
    if (deps.clock.now() >= deadline) {
      throw new TimeoutError(
        `${documentName} on ${instanceId} (command ${commandId}) did not finish in ${timeoutSeconds} s`,
      );
    }
  }
  const result = parseScriptResult(invocation.StandardOutputContent);
  const run: ScriptRun = {
    commandId,
    status: invocation.Status ?? 'Unknown',
    result,
    stderr: (invocation.StandardErrorContent ?? '').slice(-2000),
  };
  if (run.status !== 'Success' || !result?.ok) {
    const reason =
      typeof result?.error === 'string' ? result.error : run.stderr.trim().split('\n').slice(-3).join(' | ');
    throw new FinalError(
      `${documentName} failed on ${instanceId} (command ${commandId}, ${run.status}): ${reason || 'no output'}`,
      // The run (with the script's JSON summary) for callers that must know how far it got.
      { cause: run },
    );
  }
  return run;
}
