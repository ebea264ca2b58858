/**
 * The launch flow: describe the instance (resume what it already holds) → claim a complete free
 * set in its AZ and VPC → attach the rest, then the ENI → wait → tag the instance → prepare-node →
 * the node's disk alarm → CompleteLifecycleAction CONTINUE. No free set: CONTINUE as a spare or
 * ABANDON, as configured; a set still held by a terminating instance is waited for. On failure,
 * what this run attached is undone and the action is abandoned; no error path leaves the action to
 * time out (if even ABANDON fails, the error is thrown so that the invocation is retried).
 */
import { type InstanceView } from '../aws/attachments';
import {
  attachRest,
  claimFreeSet,
  newAttachLog,
  prepareHolder,
  undoAttachments,
  type AttachLog,
  type HeldSet,
} from '../shared/claim';
import type { Deps } from '../shared/deps';
import { DeadlineError, describeError, FinalError, RetryableError, TimeoutError } from '../shared/errors';
import { HANDOVER_SECONDS } from '../shared/deadlines';
import { poll, timeLeft } from '../shared/poll';
import type { LifecycleAction } from '../shared/events';
import { TAG_PREPARED } from '../domain/growth-tags';
import {
  afterPrepare,
  completeAction,
  describeActionInstance,
  Heartbeat,
  prepareSpare,
  recordHeartbeat,
} from '../aws/lifecycle';
import {
  groupInstances,
  isTerminatingState,
  keepOf,
  setToKeep,
  setVolumesOn,
  tagInstanceNode,
  type GroupInstance,
} from '../aws/group-instances';
import type { NodeSet, SetVolume } from '../domain/node-sets';
import { claimRank, expectedTimes, pacingDelayMs, pacingRank } from './pace';

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
export const HANDOVER_MS = HANDOVER_SECONDS.launch * 1000;
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
  const startedAt = deps.clock.now();
  const group = await groupInstances(deps);
  const me = group.find((i) => i.instanceId === action.instanceId);
  if (me && (me.lifecycleState === 'InService' || me.lifecycleState === 'Pending:Proceed')) {
    logger.info('launch already handled (duplicate or late event)', { lifecycleState: me.lifecycleState });
    return { result: 'duplicate', lifecycleState: me.lifecycleState };
  }
  // A burst of launches takes turns under EC2's request buckets (pace.ts).
  const turn = pacingDelayMs(pacingRank(group, action.instanceId));
  if (turn > 0) {
    logger.info('waiting for the turn of this launch under the EC2 request limits', { delayMs: turn });
    await sleepUntil(deps, deps.clock.now() + turn);
  }
  const instance = await describeActionInstance(deps, action);
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
    if (instance.state !== 'pending' && instance.state !== 'running')
      throw new FinalError(
        `${instance.instanceId} is ${instance.state}: it stopped running before it got a set`,
      );
    // The whole timeline of this launch shifts by its turn, so its attaches keep their turn too.
    const expected = expectedTimes(instance.launchTime, turn);
    // Resuming (a retried or duplicated run) only when the instance holds more than its root volume.
    const holdsMore = instance.volumes.some((v) => v.device !== instance.rootDeviceName);
    const held = holdsMore ? await setToKeep(work, instance.instanceId) : undefined;
    let nodeId = held?.keep;
    const resumed = nodeId !== undefined;
    let claimedSet: NodeSet | undefined;
    if (nodeId) {
      logger.appendKeys({ nodeId });
      logger.info('resuming: the instance already holds a set');
    } else {
      // The search reads right before this launch's turn to attach (when the instance is expected
      // to run): the launches of earlier turns have claimed by then.
      await sleepUntil(work, expected.running);
      const notBefore = expected.running;
      const claimed = await claimWithWait(work, instance, log, group, { ...options, notBefore });
      attempts = claimed.attempts;
      nodeId = claimed.set?.nodeId;
      claimedSet = claimed.set;
      if (log.volumes[0]?.found) {
        // Another run of this action attached this primary at the same moment: it holds the claim
        // and prepares the set. This run attaches and prepares nothing, so that whatever either
        // run undoes is only ever its own and never mounted by the other.
        throw new RetryableError(
          `another run of this launch attached ${log.volumes[0].volumeId} first: it prepares ${nodeId}`,
        );
      }
    }
    if (!nodeId) {
      if (deps.settings.whenNoSetFree === 'abandon') {
        logger.warn('no free node set: abandoning the instance (whenNoSetFree=abandon)');
        await completeAction(deps, action, 'ABANDON');
        return { result: 'abandoned', reason: 'no free node set', attempts };
      }
      logger.info('no free node set: continuing as a spare');
      // A spare is continued once it runs, as a node is (no call: its expected boot time).
      if (instance.state === 'pending') await sleepUntil(work, expected.running);
      await prepareSpare(work, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      return { result: 'spare', attempts };
    }
    const attached = await attachRest(work, instance.instanceId, nodeId, log, {
      ...(claimedSet ? { set: claimedSet } : {}),
      instance,
      wait: false,
    });
    // The attachments take seconds, the agent tens of seconds: one look once the agent is due
    // tells that the volumes are attached and which set this instance keeps (a duplicate run of
    // this launch may have claimed another at the same time).
    await sleepUntil(work, expected.agent);
    let holding = await heldAttached(work, instance.instanceId, attached);
    if (holding.set.nodeId !== nodeId) {
      logger.warn('another run of this launch holds an earlier set: releasing ours', {
        released: nodeId,
        kept: holding.set.nodeId,
      });
      const released = await undoAttachments(last, instance.instanceId, log);
      if (!released) throw new FinalError(`could not release ${nodeId} after a duplicate claim`);
      nodeId = holding.set.nodeId;
      logger.appendKeys({ nodeId });
      Object.assign(log, newAttachLog());
      holding = await attachRest(work, instance.instanceId, nodeId, log);
    }
    if (resumed && instance.tags[TAG_PREPARED] === nodeId) {
      logger.info('resuming: prepare-node already succeeded for this set');
      if (instance.tags[deps.settings.nodeIdTagKey] !== nodeId)
        await tagInstanceNode(work, instance.instanceId, nodeId);
    } else {
      await prepareHolder(work, instance.instanceId, holding, log, {
        withNodeId: true,
        // A retried run (the instance holds its set already) may find its predecessor's command.
        resume: resumed,
        ...(expected.agent !== undefined ? { agentExpectedAt: expected.agent } : {}),
      });
    }
    await afterPrepare(work, instance.instanceId);
    await completeAction(deps, action, 'CONTINUE');
    logger.info('node ready', { nodeId, attempts, resumed });
    return { result: 'node', nodeId, attempts, resumed };
  } catch (error) {
    if (error instanceof DeadlineError && log.prepareSent) {
      // prepare-node still runs on the host: neither undo nor ABANDON. The action is kept alive
      // and the invocation fails, so that Lambda retries it; the retry resumes and adopts the
      // command while it runs (it ends within timeouts.commandSeconds, less than one invocation).
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
    const others = await concurrentRun(last, instance.instanceId, log, startedAt).catch(() => ['unknown']);
    if (others.length > 0) {
      // Another run of this action (a duplicated delivery) is attaching or preparing a set here:
      // detaching any piece of it (even one this run attached) could pull a volume it mounts, and
      // ABANDON with the shared token would terminate the instance under it. Nothing is undone,
      // the action is kept alive and the invocation fails: its retry finds the node ready
      // (duplicate) or resumes what is attached.
      logger.warn('launch failed while another run of this action works here: not undoing, not abandoning', {
        volumeIds: others,
      });
      heartbeat.stop();
      await recordHeartbeat(last, action).catch(() => false);
      throw error;
    }
    await undoAttachments(last, instance.instanceId, log).catch(() => false);
    // If ABANDON fails too, this throws: the invocation is retried rather than left to time out.
    await completeAction(deps, action, 'ABANDON');
    return { result: 'abandoned', reason: describeError(error).message, attempts };
  } finally {
    heartbeat.stop();
  }
}

/**
 * Set volumes on the instance that show another run of this action at work: found attached by
 * this run's own AttachVolume (the two raced for it), or attached since this run started and not
 * by it. Pieces attached before this run started and untouched since are an earlier run's, which
 * ended (this run resumed them): they do not hold the action open.
 */
async function concurrentRun(
  deps: Deps,
  instanceId: string,
  log: AttachLog,
  startedAt: number,
): Promise<string[]> {
  const found = log.volumes.filter((v) => v.found).map((v) => v.volumeId);
  const own = new Set(log.volumes.filter((v) => !v.found).map((v) => v.volumeId));
  const held = (await setVolumesOn(deps, [instanceId])).get(instanceId) ?? [];
  const since = held.filter((v) => !own.has(v.volumeId) && (v.attachTime ?? 0) >= startedAt);
  return [...new Set([...found, ...since.map((v) => v.volumeId)])];
}

/** Sleeps until `at` (epoch ms), never past the invocation's deadline; no-op without `at`. */
async function sleepUntil(deps: Deps, at: number | undefined): Promise<void> {
  if (at === undefined) return;
  const wait = Math.min(at - deps.clock.now(), timeLeft(deps));
  if (wait > 0) await deps.clock.sleep(wait);
}

/**
 * Waits until the set this instance keeps is attached to it: ONE DescribeVolumes per look (the
 * volumes attached to the instance, with their tags), backing off; bounded by
 * timeouts.attachSeconds and the deadline. Returns the kept set with its devices, in the order of
 * `attached.set.volumes` when it is that set (else only the kept NodeID is meaningful).
 */
async function heldAttached(deps: Deps, instanceId: string, attached: HeldSet): Promise<HeldSet> {
  let seen: SetVolume[] = [];
  return poll(
    deps,
    async () => {
      seen = (await setVolumesOn(deps, [instanceId])).get(instanceId) ?? [];
      const keep = keepOf(seen)?.keep;
      if (keep === undefined) throw new FinalError(`${instanceId} holds no set any more`);
      if (keep !== attached.set.nodeId) return { set: { ...attached.set, nodeId: keep }, devices: [] };
      const mine = seen.filter((v) => v.nodeId === keep);
      const ready = attached.set.volumes.every((v) =>
        mine.some((m) => m.volumeId === v.volumeId && m.attachState === 'attached'),
      );
      if (!ready) return undefined;
      const devices = attached.set.volumes.map(
        (v) => mine.find((m) => m.volumeId === v.volumeId)?.device ?? '',
      );
      return { set: attached.set, devices };
    },
    {
      what: `the set of ${instanceId} attached`,
      timeoutSeconds: deps.settings.timeouts.attachSeconds,
      intervalMs: 1000,
      maxIntervalMs: 5000,
      describe: () => seen.map((v) => `${v.volumeId}:${v.attachState ?? '-'}`).join(' '),
    },
  );
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
  options: LaunchOptions & { notBefore?: number | undefined },
): Promise<{ set: NodeSet | undefined; attempts: number }> {
  const rank = options.searchStart === 'hash' ? undefined : claimRank(group, instance.instanceId);
  let attempts = 0;
  let current = group;
  let first = true;
  let waitingFor: string[] = [];
  try {
    const found = await poll(
      deps,
      async () => {
        if (!first) current = await groupInstances(deps);
        const claimed = await claimFreeSet(deps, instance, log, {
          ...(first && rank !== undefined ? { rank } : {}),
          ...(options.notBefore !== undefined ? { notBefore: options.notBefore } : {}),
        });
        first = false;
        attempts += claimed.attempts;
        if (claimed.set) return { set: claimed.set as NodeSet | undefined };
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
        if (waitingFor.length === 0) return { set: undefined };
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
    return { set: found.set, attempts };
  } catch (error) {
    if (!(error instanceof TimeoutError)) throw error;
    deps.logger.warn('sets held by terminating instances did not free up in time', {
      nodeIds: waitingFor,
      error: describeError(error),
    });
    return { set: undefined, attempts };
  }
}
