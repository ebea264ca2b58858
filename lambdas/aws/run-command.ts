import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import type { Deps } from '../shared/deps';
import {
  DocumentParameters,
  parseScriptResult,
  ScriptKey,
  ScriptResult,
  toSsmParameters,
} from '../shared/documents';
import {
  classify,
  DeadlineError,
  errorMessage,
  errorName,
  FinalError,
  RetryableError,
  TimeoutError,
} from '../shared/errors';
import { poll, timeLeft } from '../shared/poll';

const TERMINAL = new Set(['Success', 'Failed', 'Cancelled', 'TimedOut', 'Cancelling']);
/** Invocation statuses of a command that may still run on the host (ListCommandInvocations). */
const IN_FLIGHT = new Set(['Pending', 'InProgress', 'Delayed']);
/** SendCommand errors that prove nothing was sent (the request was refused as a whole). */
const NOT_SENT = new Set([
  'InvalidInstanceId',
  'InvalidDocument',
  'InvalidParameters',
  'InvalidDocumentVersion',
  'ValidationException',
  'UnsupportedPlatformType',
  'AccessDeniedException',
]);

export interface ScriptRun {
  commandId: string;
  status: string;
  result: ScriptResult | undefined;
  stderr: string;
}

type SsmDeps = Pick<Deps, 'ssm' | 'clock' | 'settings' | 'deadline'>;

/** What SSM knows of the instance's agent (undefined: it never registered). */
async function agentInformation(deps: Pick<Deps, 'ssm' | 'clock' | 'settings'>, instanceId: string) {
  const out = await deps.ssm.send(
    new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
  );
  return out.InstanceInformationList?.find((i) => i.InstanceId === instanceId);
}

/** Whether the instance's SSM agent ever registered (Online or ConnectionLost; absent: never). */
export async function agentRegistered(
  deps: Pick<Deps, 'ssm' | 'clock' | 'settings'>,
  instanceId: string,
): Promise<boolean> {
  return (await agentInformation(deps, instanceId)) !== undefined;
}

/** The agent's PingStatus now (Online, ConnectionLost, Inactive), or undefined: never registered. */
export async function agentStatus(
  deps: Pick<Deps, 'ssm' | 'clock' | 'settings'>,
  instanceId: string,
): Promise<string | undefined> {
  return (await agentInformation(deps, instanceId))?.PingStatus;
}

/**
 * Waits until the instance's SSM agent is Online (SendCommand answers InvalidInstanceId before).
 * With `expectedAt` (epoch ms), the first look waits until then: an agent registers tens of seconds
 * after its instance runs, so earlier looks would only be spent.
 */
export async function waitForAgent(deps: SsmDeps, instanceId: string, expectedAt?: number): Promise<void> {
  let last = 'not registered';
  const firstDelayMs = expectedAt === undefined ? 0 : Math.max(0, expectedAt - deps.clock.now());
  const wait = poll(
    deps,
    async () => {
      const info = await agentInformation(deps, instanceId);
      last = info?.PingStatus ?? 'not registered';
      return info?.PingStatus === 'Online' ? true : undefined;
    },
    {
      what: `SSM agent of ${instanceId} online`,
      timeoutSeconds: deps.settings.timeouts.agentOnlineSeconds,
      ...(firstDelayMs > 0 ? { firstDelayMs } : {}),
      intervalMs: 5000,
      describe: () => last,
    },
  );
  try {
    await wait;
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    const message = `SSM agent of ${instanceId} not online (${last}): check the instance role (AmazonSSMManagedInstanceCore) and that the agent runs; ${error.message}`;
    throw error instanceof DeadlineError ? new DeadlineError(message) : new TimeoutError(message);
  }
}

/**
 * The newest invocation of `documentName` on the instance that may still run there (Pending,
 * InProgress or Delayed), or, with `since`, any invocation requested at or after that time.
 */
export async function findCommand(
  deps: SsmDeps,
  instanceId: string,
  documentName: string,
  options: { since?: number } = {},
): Promise<{ commandId: string; status: string } | undefined> {
  const out = await deps.ssm.send(
    new ListCommandInvocationsCommand({
      InstanceId: instanceId,
      Filters: [{ key: 'DocumentName', value: documentName }],
      MaxResults: 50,
    }),
  );
  const found = (out.CommandInvocations ?? []).find(
    (i) =>
      i.DocumentName === documentName &&
      i.CommandId !== undefined &&
      (options.since !== undefined
        ? (i.RequestedDateTime?.getTime() ?? 0) >= options.since
        : IN_FLIGHT.has(i.Status ?? '')),
  );
  return found?.CommandId ? { commandId: found.CommandId, status: found.Status ?? 'Unknown' } : undefined;
}

export interface RunScriptOptions {
  /** Wait for this command instead of sending one. */
  commandId?: string;
  timeoutSeconds?: number;
  /**
   * Before sending, look for a command of this document still in flight on the instance (a run of
   * an earlier invocation) and wait for it instead of sending a second one. One ListCommandInvocations;
   * only an optimisation, since the host runs berth's steps one at a time (the agent scripts' host
   * lock) and each is idempotent. @default false
   */
  resume?: boolean;
  /** Called once a command is known to be on its way to the host (SendCommand gave its id). */
  onSent?: (commandId: string) => void;
  /**
   * Called with `true` right before each SendCommand (from then on the command may be on its way
   * even if no id comes back: an error after it took effect, a lookup that does not find it yet),
   * and with `false` when SSM refused it unprocessed (nothing was sent).
   */
  onSending?: (maybeSent: boolean) => void;
  /** When the instance's agent is expected Online (epoch ms): no agent look before then. */
  agentExpectedAt?: number;
}

/**
 * Runs one of berth's documents on an instance and waits for it: SendCommand (once the agent is
 * online), then GetCommandInvocation until a terminal status. Every wait is bounded by the step's
 * timeout and the invocation's deadline; a command still running at the deadline throws
 * DeadlineError and is left to run (a retried invocation adopts it with `resume`). Runs that send
 * the same step at once need no coordination here: every agent script takes the host lock, so
 * their commands execute one after another, and the second finds the work done. Returns the
 * script's JSON summary; a failed script is a FinalError carrying the summary's error and stderr.
 */
export async function runScript<K extends ScriptKey>(
  deps: SsmDeps & Pick<Deps, 'logger'>,
  instanceId: string,
  script: K,
  parameters: DocumentParameters[K],
  options: RunScriptOptions = {},
): Promise<ScriptRun> {
  const documentName = deps.settings.documents[script];
  const timeoutSeconds = options.timeoutSeconds ?? deps.settings.timeouts.commandSeconds;
  let commandId = options.commandId;
  let resume = options.resume === true;
  for (let attempt = 1; ; attempt++) {
    if (!commandId && resume) commandId = await adoptInFlight(deps, instanceId, script, documentName);
    commandId ??= await sendWhenOnline(deps, instanceId, script, documentName, parameters, {
      timeoutSeconds,
      ...(options.onSending ? { onSending: options.onSending } : {}),
      ...(options.agentExpectedAt !== undefined ? { agentExpectedAt: options.agentExpectedAt } : {}),
    });
    options.onSent?.(commandId);
    const invocation = await waitForCommand(deps, instanceId, documentName, commandId, timeoutSeconds);
    // host-busy: the script gave up waiting for the host lock and did nothing, while another step
    // held it (maybe this very step, sent by another run). Adopt that one if it is the same step,
    // else send again; bounded by the attempts and the invocation's deadline.
    const result = parseScriptResult(invocation.StandardOutputContent);
    if (result?.code !== HOST_BUSY || attempt >= HOST_BUSY_ATTEMPTS)
      return scriptRun(documentName, instanceId, commandId, invocation);
    deps.logger.warn('host step found the host busy and did nothing: trying again', {
      script,
      commandId,
      attempt,
    });
    commandId = undefined;
    resume = SAME_STEP_PER_INSTANCE.has(script);
  }
}

/**
 * Documents whose command on an instance always does the same step (its parameters come from the
 * instance and its set), so that a command of them in flight may stand for this one. A
 * grow-filesystem names one volume: another volume's command is never its answer.
 */
const SAME_STEP_PER_INSTANCE: ReadonlySet<ScriptKey> = new Set<ScriptKey>(['prepareNode', 'quiesceNode']);

/** The scripts' code for "gave up waiting for the host lock; nothing was done" (exit 5). */
const HOST_BUSY = 'host-busy';
/** Sends of one step that found the host busy, at most (each waited the scripts' lock bound). */
const HOST_BUSY_ATTEMPTS = 3;

/** A command of this document still in flight on the instance, logged as adopted. */
async function adoptInFlight(
  deps: SsmDeps & Pick<Deps, 'logger'>,
  instanceId: string,
  script: ScriptKey,
  documentName: string,
): Promise<string | undefined> {
  const running = await findCommand(deps, instanceId, documentName);
  if (!running) return undefined;
  deps.logger.info('host step already in flight: waiting for it instead of sending another', {
    script,
    commandId: running.commandId,
    status: running.status,
  });
  return running.commandId;
}

/**
 * SendCommand once the agent is online. With `agentExpectedAt`, no agent look before then: the
 * agent should be Online by that time, and SendCommand itself tells if it is not
 * (InvalidInstanceId), which saves the DescribeInstanceInformation look on the usual path.
 */
async function sendWhenOnline<K extends ScriptKey>(
  deps: SsmDeps & Pick<Deps, 'logger'>,
  instanceId: string,
  script: K,
  documentName: string,
  parameters: DocumentParameters[K],
  options: { timeoutSeconds: number; agentExpectedAt?: number; onSending?: (maybeSent: boolean) => void },
): Promise<string> {
  const send = async () => {
    options.onSending?.(true);
    try {
      return await sendCommand(
        deps,
        instanceId,
        script,
        documentName,
        toSsmParameters(parameters),
        options.timeoutSeconds,
      );
    } catch (error) {
      if (refusedUnsent(error)) options.onSending?.(false);
      throw error;
    }
  };

  const expected = options.agentExpectedAt;
  if (expected === undefined) {
    await waitForAgent(deps, instanceId);
    return send();
  }
  const wait = expected - deps.clock.now();
  if (wait > 0) await deps.clock.sleep(Math.min(wait, Math.max(0, timeLeft(deps))));
  try {
    return await send();
  } catch (error) {
    if (!refusedUnsent(error) || errorName(error.cause) !== 'InvalidInstanceId') throw error;
    await waitForAgent(deps, instanceId);
    return send();
  }
}

/** GetCommandInvocation until a terminal status, bounded by the step's timeout and the deadline. */
async function waitForCommand(
  deps: SsmDeps,
  instanceId: string,
  documentName: string,
  commandId: string,
  timeoutSeconds: number,
): Promise<GetCommandInvocationCommandOutput> {
  let seen = 'not visible yet';
  return poll(
    deps,
    async () => {
      try {
        const out = await deps.ssm.send(
          new GetCommandInvocationCommand({ CommandId: commandId, InstanceId: instanceId }),
        );
        seen = out.Status ?? 'Unknown';
        return out.Status && TERMINAL.has(out.Status) ? out : undefined;
      } catch (error) {
        // Right after SendCommand the invocation may not exist yet (documented eventual consistency).
        if (errorName(error) !== 'InvocationDoesNotExist') throw error;
        return undefined;
      }
    },
    {
      what: `${documentName} on ${instanceId} (command ${commandId}) finished`,
      timeoutSeconds: timeoutSeconds + 60,
      firstDelayMs: COMMAND_FIRST_LOOK_MS,
      intervalMs: 2000,
      maxIntervalMs: 5000,
      describe: () => seen,
    },
  );
}

/**
 * A host step takes seconds: the first look at a just-sent command comes this long after
 * SendCommand (then every look backs off), instead of answering InvocationDoesNotExist/Pending.
 */
export const COMMAND_FIRST_LOOK_MS = 2000;

/** Whether a SendCommand failure is SSM's refusal of the request: then nothing was sent. */
function refusedUnsent(error: unknown): error is RetryableError {
  return error instanceof RetryableError && NOT_SENT.has(errorName(error.cause));
}

/**
 * SendCommand, sent again only after throttling; a lost answer is looked for before deciding that
 * nothing went out.
 */
async function sendCommand(
  deps: SsmDeps & Pick<Deps, 'logger'>,
  instanceId: string,
  script: ScriptKey,
  documentName: string,
  parameters: Record<string, string[]>,
  timeoutSeconds: number,
): Promise<string> {
  const sentAt = deps.clock.now();
  let commandId: string | undefined;
  try {
    // Sent again only after throttling (refused unprocessed): a server error may come after the
    // command went out, and a second SendCommand would run the document twice at once. Any other
    // failure is looked up below instead (RETRY_RULES, lambdas/aws/retry.ts).
    const sent = await deps.ssm.send(
      new SendCommandCommand({
        DocumentName: documentName,
        InstanceIds: [instanceId],
        Parameters: parameters,
        TimeoutSeconds: timeoutSeconds,
        Comment: `berth ${script} ${instanceId}`.slice(0, 100),
      }),
    );
    commandId = sent.Command?.CommandId;
  } catch (error) {
    if (NOT_SENT.has(errorName(error))) {
      throw new RetryableError(
        `SendCommand ${documentName} on ${instanceId} refused (${errorName(error)}: ${errorMessage(error)}): nothing was sent`,
        { cause: error },
      );
    }
    // The answer may be lost while the command went out: look before deciding nothing was sent.
    commandId = (await findCommand(deps, instanceId, documentName, { since: sentAt }))?.commandId;
    if (!commandId) throw classify(error, `SendCommand ${documentName} on ${instanceId}`);
  }
  if (!commandId)
    throw new RetryableError(`SendCommand ${documentName} on ${instanceId} returned no CommandId`);
  deps.logger.info('host step sent', { script, documentName, commandId });
  return commandId;
}

function scriptRun(
  documentName: string,
  instanceId: string,
  commandId: string,
  invocation: GetCommandInvocationCommandOutput,
): ScriptRun {
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
