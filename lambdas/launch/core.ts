/**
 * The launch flow: describe the instance (resume what it already holds) → claim a complete free
 * set in its AZ and VPC → attach the rest, then the ENI → wait → tag the instance → prepare-node →
 * the node's disk alarm → CompleteLifecycleAction CONTINUE. No free set: CONTINUE as a spare or
 * ABANDON, as configured; a set still held by a terminating instance is waited for. On failure,
 * what this run attached is undone and the action is abandoned; no error path leaves the action to
 * time out (if even ABANDON fails, the error is thrown so that the invocation is retried).
 */
import { describeInstance, waitForRunning, type InstanceView } from '../shared/attachments';
import {
  attachRest,
  claimFreeSet,
  launchRank,
  newAttachLog,
  prepareHolder,
  undoAttachments,
  type AttachLog,
} from '../shared/claim';
import type { Deps } from '../shared/deps';
import { DeadlineError, describeError, FinalError, TimeoutError } from '../shared/errors';
import { poll } from '../shared/poll';
import type { LifecycleAction } from '../shared/events';
import { TAG_PREPARED } from '../grow/tags';
import { afterPrepare, completeAction, Heartbeat, prepareSpare, recordHeartbeat } from '../shared/lifecycle';
import {
  groupInstances,
  isTerminatingState,
  setToKeep,
  setVolumesOn,
  tagInstanceNode,
  type GroupInstance,
} from '../shared/instances';

export type LaunchOutcome =
  | { result: 'node'; nodeId: string; attempts: number; resumed: boolean }
  | { result: 'spare'; attempts: number }
  | { result: 'scratch' }
  | { result: 'abandoned'; reason: string; attempts: number }
  | { result: 'duplicate'; lifecycleState: string }
  | { result: 'vanished' };

/**
 * Time kept back from the invocation's deadline to finish without waiting: undo what this run
 * attached and ABANDON, or record a heartbeat and hand a running prepare-node to the retried
 * invocation.
 */
export const HANDOVER_MS = 120_000;
/** Time kept back for the last calls (a heartbeat, CompleteLifecycleAction) once the undo is done. */
const LAST_CALLS_MS = 10_000;

export interface LaunchOptions {
  /**
   * Epoch ms at which this invocation ends (Lambda's remaining time). Every wait ends
   * HANDOVER_MS before it; a prepare-node still running then is left to the retried invocation.
   */
  deadline?: number;
  /**
   * Where the search starts: `rank` (the instance's place among the group's launching instances,
   * falling back to the hash) or `hash` (a hash of the instance id only). @default 'rank'
   */
  searchStart?: 'rank' | 'hash';
  /** Seconds between two looks at sets held by terminating instances (backing off). @default 15 */
  terminatingPollSeconds?: number;
}

export async function launchNode(
  deps: Deps,
  action: LifecycleAction,
  options: LaunchOptions = {},
): Promise<LaunchOutcome> {
  const { logger } = deps;
  const group = await groupInstances(deps);
  const me = group.find((i) => i.instanceId === action.instanceId);
  if (me && (me.lifecycleState === 'InService' || me.lifecycleState === 'Pending:Proceed')) {
    logger.info('launch already handled (duplicate or late event)', { lifecycleState: me.lifecycleState });
    return { result: 'duplicate', lifecycleState: me.lifecycleState };
  }
  const instance = await describeInstance(deps, action.instanceId);
  if (
    !me ||
    me.lifecycleState !== 'Pending:Wait' ||
    !instance ||
    instance.state === 'shutting-down' ||
    instance.state === 'terminated'
  ) {
    logger.error('instance vanished: nothing to do', {
      lifecycleState: me?.lifecycleState ?? 'not in group',
      state: instance?.state ?? 'not found',
      fix: 'none needed; the Auto Scaling group replaces it',
    });
    if (me?.lifecycleState === 'Pending:Wait') await completeAction(deps, action, 'ABANDON');
    return { result: 'vanished' };
  }

  const heartbeat = new Heartbeat(deps, action).start();
  const log = newAttachLog();
  let attempts = 0;
  const end = options.deadline;
  // The steps wait until HANDOVER_MS before the end; the undo and the last calls use the margin.
  const work: Deps = end === undefined ? deps : { ...deps, deadline: end - HANDOVER_MS };
  const last: Deps = end === undefined ? deps : { ...deps, deadline: end - LAST_CALLS_MS };
  try {
    if (!deps.settings.nodeSets) {
      await prepareSpare(work, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      return { result: 'scratch' };
    }
    const running = await waitForRunning(work, instance);
    if (!running) throw new FinalError(`${instance.instanceId} stopped running before it got a set`);
    const held = await setToKeep(work, instance.instanceId);
    let nodeId = held?.keep;
    const resumed = nodeId !== undefined;
    if (nodeId) {
      logger.appendKeys({ nodeId });
      logger.info('resuming: the instance already holds a set');
    } else {
      const claimed = await claimWithWait(work, running, log, group, options);
      attempts = claimed.attempts;
      nodeId = claimed.nodeId;
    }
    if (!nodeId) {
      if (deps.settings.whenNoSetFree === 'abandon') {
        logger.warn('no free node set: abandoning the instance (whenNoSetFree=abandon)');
        await completeAction(deps, action, 'ABANDON');
        return { result: 'abandoned', reason: 'no free node set', attempts };
      }
      logger.info('no free node set: continuing as a spare');
      await prepareSpare(work, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      return { result: 'spare', attempts };
    }
    let holding = await attachRest(work, instance.instanceId, nodeId, log);
    // A duplicate run of this launch may have claimed another set at the same time: keep one.
    const keep = await setToKeep(work, instance.instanceId);
    if (keep && keep.keep !== nodeId) {
      logger.warn('another run of this launch holds an earlier set: releasing ours', {
        released: nodeId,
        kept: keep.keep,
      });
      const released = await undoAttachments(last, instance.instanceId, log);
      if (!released) throw new FinalError(`could not release ${nodeId} after a duplicate claim`);
      nodeId = keep.keep;
      logger.appendKeys({ nodeId });
      Object.assign(log, newAttachLog());
      holding = await attachRest(work, instance.instanceId, nodeId, log);
    }
    await tagInstanceNode(work, instance.instanceId, nodeId);
    if (resumed && running.tags[TAG_PREPARED] === nodeId) {
      logger.info('resuming: prepare-node already succeeded for this set');
    } else {
      await prepareHolder(work, instance.instanceId, holding, log);
    }
    await afterPrepare(work, instance.instanceId);
    await completeAction(deps, action, 'CONTINUE');
    logger.info('node ready', { nodeId, attempts, resumed });
    return { result: 'node', nodeId, attempts, resumed };
  } catch (error) {
    if (error instanceof DeadlineError && log.prepareSent) {
      // prepare-node still runs on the host: neither undo nor ABANDON. The action is kept alive
      // and the invocation fails, so that Lambda retries it; the retry finds the command in flight
      // and waits for it (it ends within timeouts.commandSeconds, less than one invocation).
      logger.warn('deadline reached while prepare-node runs: leaving it to the retried invocation', {
        commandId: log.prepareCommandId,
        error: describeError(error),
      });
      heartbeat.stop();
      await recordHeartbeat(last, action).catch(() => false);
      throw error;
    }
    logger.error('launch failed: undoing what this run attached, then ABANDON', {
      error: describeError(error),
      attached: log.volumes.map((v) => v.volumeId),
      networkInterfaceId: log.networkInterfaceId,
    });
    await undoAttachments(last, instance.instanceId, log).catch(() => false);
    // If ABANDON fails too, this throws: the invocation is retried rather than left to time out.
    await completeAction(deps, action, 'ABANDON');
    return { result: 'abandoned', reason: describeError(error).message, attempts };
  } finally {
    heartbeat.stop();
  }
}

/**
 * Claims a free set; when none is free but a set in this AZ is still held by a terminating
 * instance, waits for it (bounded by timeouts.waitForTerminatingSeconds and the deadline).
 */
async function claimWithWait(
  deps: Deps,
  instance: InstanceView,
  log: AttachLog,
  group: GroupInstance[],
  options: LaunchOptions,
): Promise<{ nodeId: string | undefined; attempts: number }> {
  const rank = options.searchStart === 'hash' ? undefined : launchRank(group, instance);
  let attempts = 0;
  let current = group;
  let first = true;
  let waitingFor: string[] = [];
  try {
    const found = await poll(
      deps,
      async () => {
        if (!first) current = await groupInstances(deps);
        const claimed = await claimFreeSet(deps, instance, log, first && rank !== undefined ? { rank } : {});
        first = false;
        attempts += claimed.attempts;
        if (claimed.set) return { nodeId: claimed.set.nodeId as string | undefined };
        const terminating = current.filter(
          (i) => isTerminatingState(i.lifecycleState) && i.availabilityZone === instance.availabilityZone,
        );
        const held = terminating.length
          ? await setVolumesOn(
              deps,
              terminating.map((i) => i.instanceId),
            )
          : new Map();
        waitingFor = [...new Set([...held.values()].flat().map((v: { nodeId: string }) => v.nodeId))];
        if (waitingFor.length === 0) return { nodeId: undefined };
        deps.logger.info('waiting for sets held by terminating instances', {
          nodeIds: waitingFor,
          terminating: terminating.map((i) => i.instanceId),
        });
        return undefined;
      },
      {
        what: 'a set held by a terminating instance freed',
        timeoutSeconds: deps.settings.timeouts.waitForTerminatingSeconds,
        intervalMs: (options.terminatingPollSeconds ?? 15) * 1000,
      },
    );
    return { nodeId: found.nodeId, attempts };
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    deps.logger.warn('sets held by terminating instances did not free up in time', {
      nodeIds: waitingFor,
      error: describeError(error),
    });
    return { nodeId: undefined, attempts };
  }
}
