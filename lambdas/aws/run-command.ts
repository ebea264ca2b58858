import {
  DescribeInstanceInformationCommand,
  GetCommandInvocationCommand,
  ListCommandInvocationsCommand,
  SendCommandCommand,
  type GetCommandInvocationCommandOutput,
} from '@aws-sdk/client-ssm';
import { retrying } from './attachments';
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
  describeError,
  errorMessage,
  errorName,
  FinalError,
  isThrottling,
  RetryableError,
  TimeoutError,
} from '../shared/errors';
import { poll, timeLeft } from '../shared/poll';
import { acquireLease, releaseLease, SEND_WINDOW_MS } from './lease';
import { leaseParameterName } from '../shared/lease-names';

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
  const out = await retrying(deps, () =>
    deps.ssm.send(
      new DescribeInstanceInformationCommand({ Filters: [{ Key: 'InstanceIds', Values: [instanceId] }] }),
    ),
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
 * InProgress or Delayed), or, with `since`, any invocation requested at or after that time (and,
 * with `inFlight` too, either).
 */
export async function findCommand(
  deps: SsmDeps,
  instanceId: string,
  documentName: string,
  options: { since?: number; inFlight?: boolean } = {},
): Promise<{ commandId: string; status: string } | undefined> {
  const out = await retrying(deps, () =>
    deps.ssm.send(
      new ListCommandInvocationsCommand({
        InstanceId: instanceId,
        Filters: [{ key: 'DocumentName', value: documentName }],
        MaxResults: 50,
      }),
    ),
  );
  const inFlight = options.inFlight ?? options.since === undefined;
  const found = (out.CommandInvocations ?? []).find(
    (i) =>
      i.DocumentName === documentName &&
      i.CommandId !== undefined &&
      ((options.since !== undefined && (i.RequestedDateTime?.getTime() ?? 0) >= options.since) ||
        (inFlight && IN_FLIGHT.has(i.Status ?? ''))),
  );
  return found?.CommandId ? { commandId: found.CommandId, status: found.Status ?? 'Unknown' } : undefined;
}

/**
 * Waits while the instance runs an invocation of this document: a duplicated or retried event must
 * not send the same document to the same host while the first may still run (both would act on the
 * same devices at once).
 */
async function waitForInFlight(
  deps: SsmDeps,
  instanceId: string,
  documentName: string,
  timeoutSeconds: number,
): Promise<void> {
  let running: string | undefined;
  await poll(
    deps,
    async () => {
      const found = await findCommand(deps, instanceId, documentName);
      running = found?.commandId;
      return found ? undefined : true;
    },
    {
      what: `${documentName} still running on ${instanceId} ended`,
      timeoutSeconds: timeoutSeconds + 60,
      intervalMs: 10_000,
      describe: () => `command ${running ?? '?'} in flight`,
    },
  );
}

export interface RunScriptOptions {
  /** Wait for this command instead of sending one. */
  commandId?: string;
  timeoutSeconds?: number;
  /**
   * Before sending, look for a command of this document still in flight on the instance (a run
   * of an earlier invocation) and wait for it instead of sending a second one. @default false
   * (prepare-node always goes through the instance's lease instead, see `sendUnderLease`).
   */
  resume?: boolean;
  /** Called once a command is known to be on its way to the host (SendCommand gave its id). */
  onSent?: (commandId: string) => void;
  /** When the instance's agent is expected Online (epoch ms): its first look waits until then. */
  agentExpectedAt?: number;
}

/**
 * The documents sent under the instance's lease (lambdas/aws/lease.ts): one rule for every run.
 * prepare-node (launch, promotion, reconcile's re-prepare) and quiesce-node (two deliveries of one
 * terminate event sent it twice at once in the fault campaign); grow-filesystem is serialized by
 * growth's own state tags and ClientToken.
 */
export const LEASED: ReadonlySet<ScriptKey> = new Set<ScriptKey>(['prepareNode', 'quiesceNode']);
/** Clock skew tolerated between the Lambda's clock and SSM's RequestedDateTime. */
const SKEW_MS = 2000;

/**
 * Runs one of berth's documents on an instance and waits for it: SendCommand (after the agent is
 * online), then GetCommandInvocation until a terminal status. Every wait is bounded by the step's
 * timeout and the invocation's deadline; a command still running at the deadline throws
 * DeadlineError and is left to run (a retried invocation adopts it). prepare-node is sent only by
 * the holder of the instance's lease; a run that finds the lease taken adopts the command sent
 * under it. Returns the script's JSON summary; a failed script is a FinalError carrying the
 * summary's error and stderr.
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
  const leased = LEASED.has(script);
  const send = () =>
    sendCommand(deps, instanceId, script, documentName, toSsmParameters(parameters), timeoutSeconds);
  let commandId = options.commandId;
  // The owner of this run's own lease, while it holds it: only that lease is released at the end.
  let leaseOwner: string | undefined;
  const underLease = () => sendUnderLease(deps, instanceId, documentName, timeoutSeconds, send);
  if (!commandId && leased) {
    const expected = options.agentExpectedAt;
    if (expected === undefined) await waitForAgent(deps, instanceId);
    else {
      // The agent should be Online by then: SendCommand itself tells if it is not
      // (InvalidInstanceId), which saves the DescribeInstanceInformation look on the usual path.
      const wait = expected - deps.clock.now();
      if (wait > 0) await deps.clock.sleep(Math.min(wait, Math.max(0, timeLeft(deps))));
    }
    try {
      ({ commandId, leaseOwner } = await underLease());
    } catch (error) {
      if (
        expected === undefined ||
        !(error instanceof RetryableError) ||
        errorName(error.cause) !== 'InvalidInstanceId'
      )
        throw error;
      await waitForAgent(deps, instanceId);
      ({ commandId, leaseOwner } = await underLease());
    }
  }
  if (!commandId && options.resume) {
    const running = await findCommand(deps, instanceId, documentName);
    if (running) {
      commandId = running.commandId;
      deps.logger.info('host step already in flight: waiting for it instead of sending another', {
        script,
        commandId,
        status: running.status,
      });
    }
  }
  if (!commandId) {
    await waitForAgent(deps, instanceId, options.agentExpectedAt);
    await waitForInFlight(deps, instanceId, documentName, timeoutSeconds);
    commandId = await send();
  }
  options.onSent?.(commandId);
  const id = commandId;
  let seen = 'not visible yet';
  // If a look fails (the deadline came, the looks were throttled away, the command outran its
  // timeout), the command may still be running: the lease stays, so that the next run takes the
  // expired lease over and adopts the command instead of sending a second one. It is released only
  // once the command ended.
  const invocation: GetCommandInvocationCommandOutput = await poll(
    deps,
    async () => {
      try {
        const out = await retrying(deps, () =>
          deps.ssm.send(new GetCommandInvocationCommand({ CommandId: id, InstanceId: instanceId })),
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
      what: `${documentName} on ${instanceId} (command ${id}) finished`,
      timeoutSeconds: timeoutSeconds + 60,
      firstDelayMs: COMMAND_FIRST_LOOK_MS,
      intervalMs: 2000,
      maxIntervalMs: 5000,
      describe: () => seen,
    },
  );
  // Only the run whose own lease the command ran under releases it. A run that adopted another
  // run's command leaves the lease to that run, or to its expiry when that run is gone: a delete
  // by a run that does not hold the lease, held back by a throttled retry, removed the next step's
  // fresh lease and let a third run send while the next step's command ran (fault campaign soak,
  // seed 6).
  if (leaseOwner !== undefined) await releaseQuietly(deps, documentName, instanceId, leaseOwner);
  return scriptRun(documentName, instanceId, id, invocation);
}

/**
 * A host step takes seconds: the first look at a just-sent command comes this long after
 * SendCommand (then every look backs off), instead of answering InvocationDoesNotExist/Pending.
 */
export const COMMAND_FIRST_LOOK_MS = 2000;

async function releaseQuietly(
  deps: SsmDeps & Pick<Deps, 'logger'>,
  documentName: string,
  instanceId: string,
  owner: string,
): Promise<void> {
  const name = leaseParameterName(documentName, instanceId);
  await releaseLease(deps, name, owner).catch((error: unknown) =>
    deps.logger.warn(
      'could not release the host-step lease: it expires (the next run takes it over), and the terminate flow deletes it',
      {
        lease: name,
        error: describeError(error),
      },
    ),
  );
}

/**
 * Sends under the instance's lease for this document. The holder sends; a run that finds the lease
 * taken (a duplicate delivery, a retried invocation, the reconciler) adopts the holder's command or
 * one still running, or waits until one appears or the lease expires (its holder died), then takes
 * it over; whoever takes over an expired lease adopts a command still running before it sends.
 * Returns the command id to wait for, and the lease's owner when this run holds it.
 */
async function sendUnderLease(
  deps: SsmDeps & Pick<Deps, 'logger'>,
  instanceId: string,
  documentName: string,
  timeoutSeconds: number,
  send: () => Promise<string>,
): Promise<{ commandId: string; leaseOwner?: string }> {
  const name = leaseParameterName(documentName, instanceId);
  let holder = '';
  return poll(
    deps,
    async () => {
      const attempt = await acquireLease(deps, name);
      const leaseOwner = attempt.held ? attempt.lease.owner : undefined;
      // A fresh lease: nobody sent under it yet. A lease taken over from a holder that is gone: a
      // command of it still running is adopted; one that ended may be an earlier step's (a lease
      // left after its command ended), and the documents are idempotent, so the step is sent again
      // rather than answered by an old result. A live holder's lease: its command, running or
      // ended (two deliveries of one event run the step once), or any command still running.
      const look = attempt.held
        ? attempt.tookOver && { inFlight: true }
        : { since: attempt.current.acquiredAt - SKEW_MS, inFlight: true };
      if (look) {
        const found = await findCommand(deps, instanceId, documentName, look);
        if (found) {
          deps.logger.info('host step sent by another run under the lease: adopting it', {
            documentName,
            commandId: found.commandId,
            status: found.status,
          });
          return { commandId: found.commandId, leaseOwner };
        }
      }
      if (!attempt.held) {
        holder = attempt.current.owner;
        return undefined;
      }
      try {
        return { commandId: await send(), leaseOwner: attempt.lease.owner };
      } catch (error) {
        // Released only when SSM refused the request (nothing was sent). Any other failure may
        // have come after the effect (an answer lost, then the look for the command failed too):
        // the lease stays, and the next run takes it over once expired and adopts the command.
        if (refusedUnsent(error)) await releaseQuietly(deps, documentName, instanceId, attempt.lease.owner);
        throw error;
      }
    },
    {
      what: `the ${documentName} lease on ${instanceId}`,
      timeoutSeconds: Math.max(timeoutSeconds, (2 * SEND_WINDOW_MS) / 1000),
      intervalMs: 2000,
      maxIntervalMs: 10_000,
      describe: () => `held by ${holder}`,
    },
  );
}

/** Whether a SendCommand failure is SSM's refusal of the request: then nothing was sent. */
function refusedUnsent(error: unknown): boolean {
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
    // failure is looked up below instead. (The SSM client makes no retries of its own: clients.ts.)
    const sent = await retrying(
      deps,
      () =>
        deps.ssm.send(
          new SendCommandCommand({
            DocumentName: documentName,
            InstanceIds: [instanceId],
            Parameters: parameters,
            TimeoutSeconds: timeoutSeconds,
            Comment: `berth ${script} ${instanceId}`.slice(0, 100),
          }),
        ),
      { retryOn: isThrottling },
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
