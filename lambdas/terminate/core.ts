/**
 * The terminate flow: quiesce-node over SSM → only after it succeeded, detach the ENI and the
 * volumes → wait until available → delete the disk alarm → CompleteLifecycleAction CONTINUE →
 * give the freed set to a spare in the same AZ. When the host cannot be quiesced, nothing is
 * detached (a mounted volume is never pulled): the action is completed and termination releases
 * the volumes. No error path leaves the action to time out.
 *
 * Every wait ends HANDOVER_SECONDS.terminate before the invocation's deadline: a quiesce-node
 * still running then counts as not quiesced (nothing is detached; termination releases the set),
 * a detach still settling after a quiesce is left to EC2 (the set is unmounted), and the action is
 * completed within the margin either way. A promotion cut at the deadline is finished or released
 * by the reconciler.
 */
import { detachVolume, volumeAvailable, waitForVolume } from '../aws/attachments';
import { detachInterface, interfaceAvailable, waitForInterface } from '../aws/network-interfaces';
import { promoteSpare, type PromoteOutcome } from '../shared/claim';
import type { Deps } from '../shared/deps';
import { HANDOVER_SECONDS } from '../shared/deadlines';
import { describeError } from '../shared/errors';
import { endingBefore, timeLeft } from '../shared/poll';
import type { LifecycleAction } from '../shared/events';
import { findSpares, groupInstances, heldNodeIds } from '../aws/group-instances';
import {
  afterPrepare,
  beforeRelease,
  completeAction,
  describeActionInstance,
  Heartbeat,
} from '../aws/lifecycle';
import { agentRegistered, runScript } from '../aws/run-command';
import { describeSet } from '../aws/set-resources';
import { type NodeSet } from '../domain/node-sets';

export type TerminateOutcome =
  | { result: 'released'; nodeId: string; promoted?: { spareId: string; outcome: PromoteOutcome } }
  | { result: 'not-quiesced'; nodeId: string; reason: string }
  | { result: 'release-failed'; nodeId: string; reason: string }
  | { result: 'no-set' }
  | { result: 'duplicate'; lifecycleState: string }
  | { result: 'vanished' };

export interface TerminateOptions {
  /** Epoch ms at which this invocation ends (Lambda's remaining time). */
  deadline?: number;
}

export async function terminateNode(
  deps: Deps,
  action: LifecycleAction,
  options: TerminateOptions = {},
): Promise<TerminateOutcome> {
  const { logger } = deps;
  // The waits end before the margin; the last calls (alarm, CompleteLifecycleAction) use it.
  const work = endingBefore(deps, options.deadline, HANDOVER_SECONDS.terminate * 1000);
  const group = await groupInstances(deps);
  const me = group.find((i) => i.instanceId === action.instanceId);
  if (!me || me.lifecycleState !== 'Terminating:Wait') {
    logger.info('terminate already handled (duplicate or late event)', {
      lifecycleState: me?.lifecycleState ?? 'not in group',
    });
    return { result: 'duplicate', lifecycleState: me?.lifecycleState ?? 'not in group' };
  }
  const instance = await describeActionInstance(deps, action);
  if (!instance || instance.state === 'terminated') {
    logger.error('instance vanished before its terminate hook ran', {
      fix: 'none needed; the set is free once EC2 detached it',
    });
    await completeAction(deps, action, 'CONTINUE');
    return { result: 'vanished' };
  }

  const heartbeat = new Heartbeat(deps, action).start();
  let completed = false;
  let freed: NodeSet | undefined;
  let outcome: TerminateOutcome = { result: 'no-set' };
  let nodeId = '';
  try {
    const held = await heldNodeIds(deps, instance.instanceId);
    nodeId = held[0] ?? instance.tags[deps.settings.nodeIdTagKey] ?? '';
    if (!nodeId) {
      await beforeRelease(deps, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      completed = true;
      return outcome;
    }
    logger.appendKeys({ nodeId });
    if (instance.state === 'stopping' || instance.state === 'stopped') {
      // A stopped instance (the group's health check replaces it) has no agent to quiesce it, and
      // waiting for one would only outlast the hook: nothing is detached, termination releases it.
      const reason = `${instance.instanceId} is ${instance.state}: no agent can quiesce it; termination releases the set`;
      logger.warn('instance stopped: not detaching; termination releases the set', { state: instance.state });
      await beforeRelease(deps, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      completed = true;
      return { result: 'not-quiesced', nodeId, reason };
    }
    if (!(await agentRegistered(deps, instance.instanceId))) {
      // An agent that never registered has run nothing on this host (no prepare-node, no mount by
      // berth), and waiting for it would only outlast the hook: nothing is detached, termination
      // releases the set. (An agent that lost its connection is waited for: it may come back.)
      const reason = `the SSM agent of ${instance.instanceId} never registered: it cannot be quiesced; termination releases the set`;
      logger.warn('agent never registered: not detaching; termination releases the set', {});
      await beforeRelease(deps, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      completed = true;
      return { result: 'not-quiesced', nodeId, reason };
    }
    try {
      await runScript(
        work,
        instance.instanceId,
        'quiesceNode',
        {
          MountPoint: deps.settings.mountPoint,
          ServiceUnit: deps.settings.serviceUnit ?? '',
          TimeoutSeconds: String(deps.settings.timeouts.quiesceSeconds),
        },
        // A duplicate or retried delivery waits for a quiesce-node still in flight.
        { resume: true },
      );
    } catch (error) {
      logger.error('quiesce-node failed: not detaching a mounted set; termination releases it', {
        error: describeError(error),
      });
      await beforeRelease(deps, instance.instanceId);
      await completeAction(deps, action, 'CONTINUE');
      completed = true;
      return { result: 'not-quiesced', nodeId, reason: describeError(error).message };
    }
    await heartbeat.beat();
    const check = await describeSet(deps, nodeId);
    const volumeIds = check.ok
      ? check.set.volumes.filter((v) => v.attachedTo === instance.instanceId).map((v) => v.volumeId)
      : [...check.problem.volumeIds];
    const eniIds = check.ok
      ? check.set.eni?.attachedTo === instance.instanceId
        ? [check.set.eni.networkInterfaceId]
        : []
      : [...check.problem.networkInterfaceIds];
    for (const eniId of eniIds) {
      await detachInterface(work, eniId, instance.instanceId);
    }
    for (const volumeId of [...volumeIds].reverse()) {
      await detachVolume(work, volumeId, instance.instanceId);
    }
    for (const eniId of eniIds) await waitForInterface(work, eniId, interfaceAvailable, 'available');
    for (const volumeId of volumeIds) await waitForVolume(work, volumeId, volumeAvailable, 'available');
    logger.info('node set released', { volumeIds, networkInterfaceIds: eniIds });
    await beforeRelease(deps, instance.instanceId);
    await completeAction(deps, action, 'CONTINUE');
    completed = true;
    if (check.ok) freed = check.set;
    outcome = { result: 'released', nodeId };
  } catch (error) {
    logger.error('terminate failed; completing the action (termination releases what is left)', {
      error: describeError(error),
    });
    outcome = { result: 'release-failed', nodeId, reason: describeError(error).message };
  } finally {
    heartbeat.stop();
    // If even this fails, it throws: the invocation is retried rather than left to time out.
    if (!completed) await completeAction(deps, action, 'CONTINUE');
  }

  if (freed && outcome.result === 'released') {
    const spares = await findSpares(deps, { availabilityZone: freed.availabilityZone });
    for (const spare of spares) {
      if (timeLeft(work) <= 0) {
        logger.warn('deadline reached before the freed set reached a spare: the reconciler promotes one', {
          nodeId: freed.nodeId,
        });
        break;
      }
      const result = await promoteSpare(work, spare.instanceId, freed.nodeId, afterPrepare);
      const last = spare === spares[spares.length - 1];
      if (result === 'promoted' || result === 'lost' || last) {
        outcome = { ...outcome, promoted: { spareId: spare.instanceId, outcome: result } };
      }
      if (result === 'promoted' || result === 'lost') break;
    }
  }
  return outcome;
}
