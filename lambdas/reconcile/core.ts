/**
 * The reconciler (schedule): the safety net for lost events and crashes. It finishes or releases
 * half-attached sets, promotes spares onto free sets, publishes the gauges, and runs the growth
 * reconciliation (alarms, orphaned grown volumes) when growth is on.
 */
import { describeInstance, detachVolume, volumeAvailable, waitForVolume } from '../aws/attachments';
import { detachInterface, interfaceAvailable, waitForInterface } from '../aws/network-interfaces';
import { attachRest, newAttachLog, prepareHolder, promoteSpare, type PromoteOutcome } from '../shared/claim';
import type { Deps } from '../shared/deps';
import { describeError } from '../shared/errors';
import { timeLeft } from '../shared/poll';
import { LAMBDA_MAX_SECONDS } from '../shared/deadlines';
import {
  findSpares,
  groupInstances,
  instanceNodeTags,
  isPendingState,
  tagInstanceNode,
  type GroupInstance,
  type InstanceNodeTags,
} from '../aws/group-instances';
import { afterPrepare, reconcileGrowth } from '../aws/lifecycle';
import { agentRegistered } from '../aws/run-command';
import { publishGauges, type Gauges } from '../shared/metrics';
import { holdersOutside, isHalfAttached } from '../shared/set-states';
import { listSetInterfaces, listSetVolumes } from '../aws/set-resources';
import {
  groupSets,
  holders,
  isFree,
  primary,
  problemFields,
  type NodeSet,
  type SetProblem,
  type SetVolume,
} from '../domain/node-sets';

/** One listing of the group's set volumes and ENIs: the volumes as listed, and the sets they make. */
interface Listing {
  volumes: SetVolume[];
  sets: NodeSet[];
  problems: SetProblem[];
}

/**
 * The set volumes (one DescribeVolumes page per 500) and ENIs of the group, grouped into sets. A
 * run lists them once, and again only after it changed an attachment (see `reconcile`).
 */
async function listSets(deps: Deps): Promise<Listing> {
  const volumeOnly = deps.settings.volumeOnly === true;
  const [volumes, interfaces] = await Promise.all([
    listSetVolumes(deps),
    volumeOnly ? [] : listSetInterfaces(deps),
  ]);
  return { volumes, ...groupSets(volumes, interfaces, deps.settings.ordinalTagKey, volumeOnly) };
}

export interface ReconcileReport {
  gauges: Gauges;
  finished: string[];
  released: { nodeId: string; instanceId: string; pieces: string[] }[];
  promoted: { spareId: string; nodeId: string; outcome: PromoteOutcome }[];
  /** Holders whose prepare-node this run ran again (and whether it succeeded). */
  reprepared: { instanceId: string; nodeId: string; ok: boolean }[];
  skipped: { nodeId: string; reason: string }[];
  /** Sets with a piece attached to an instance outside the group: reported, never touched. */
  heldElsewhere: { nodeId: string; instanceIds: string[] }[];
  errors: { nodeId: string; error: string }[];
  /** The run reached its deadline (the next tick) before its work was done: the next run continues. */
  stoppedAtDeadline?: true;
}

export async function reconcile(deps: Deps): Promise<ReconcileReport> {
  const { logger } = deps;
  const report: ReconcileReport = {
    gauges: {
      FreeSets: 0,
      Nodes: 0,
      Spares: 0,
      HalfAttached: 0,
      BadSets: 0,
      HeldElsewhere: 0,
      Unprepared: 0,
      StuckDiskAlarms: 0,
    },
    finished: [],
    released: [],
    promoted: [],
    reprepared: [],
    skipped: [],
    heldElsewhere: [],
    errors: [],
  };
  // The set volumes are listed once per run (a page per 500 volumes), and again only after this run
  // changed an attachment (healed, released, re-prepared, promoted), for what comes after it.
  const [first, group] = await Promise.all([listSets(deps), groupInstances(deps)]);
  const { sets: all, problems } = first;
  for (const problem of problems) logger.error('node set skipped: bad data', problemFields(problem));
  const members = new Map(group.map((i) => [i.instanceId, i]));

  // berth never touches an instance outside its group: a set with a piece on one (another group,
  // a standalone instance) is reported with the fix and left as it is.
  const sets: NodeSet[] = [];
  for (const set of all) {
    const outside = holdersOutside(set, members);
    if (outside.length === 0) {
      sets.push(set);
      continue;
    }
    report.heldElsewhere.push({ nodeId: set.nodeId, instanceIds: outside });
    logger.error('a set is held by an instance outside the group; left as it is', {
      nodeId: set.nodeId,
      instanceIds: outside,
      fix: `detach the set's volumes and network interface from ${outside.join(', ')} (or remove the NodeID tag from them if they belong elsewhere); the reconciler then treats the set as its own again`,
    });
  }

  const half = sets.filter(isHalfAttached);
  const nodes = sets.filter((s) => !isFree(s) && !isHalfAttached(s)).length;
  report.gauges = {
    FreeSets: sets.filter(isFree).length,
    Nodes: nodes,
    Spares: 0,
    HalfAttached: half.length,
    BadSets: problems.length,
    HeldElsewhere: report.heldElsewhere.length,
    StuckDiskAlarms: 0,
    Unprepared: 0,
  };

  // Sets held by an InService instance whose NodeID tag names another set: it no longer holds the
  // claim (a duplicated launch left a second set behind). Released; prepare-node never mounted them.
  const held = sets.filter((set) => !isFree(set) && primary(set).attachedTo);
  const holderIds = [...new Set(held.map((set) => primary(set).attachedTo ?? ''))];
  // One listing of the group's instances (tags and state) serves the holders here and the spares
  // below: a page per 1,000 instances, not a call per 199 ids twice.
  const tags =
    holderIds.length > 0 || group.length > 0
      ? await instanceNodeTags(deps, 'group')
      : new Map<string, InstanceNodeTags>();
  // Whether this run may have attached or detached something (then the volumes are listed again).
  const acted = () =>
    report.finished.length + report.released.length + report.reprepared.length + report.errors.length > 0;
  // Each step starts only while time is left: a step cut at the deadline leaves what a later run
  // resumes (a half-attached set, an unprepared holder, a free set).
  const late = (): boolean => {
    if (timeLeft(deps) > 0) return false;
    if (!report.stoppedAtDeadline)
      logger.warn('deadline reached (the next scheduled run is due): the next run continues');
    report.stoppedAtDeadline = true;
    return true;
  };
  for (const set of half) {
    if (late()) break;
    const owner = primary(set).attachedTo;
    const ownerTag = owner ? tags.get(owner)?.nodeId : undefined;
    if (ownerTag && ownerTag !== set.nodeId) continue; // released below: its holder holds another set
    if (owner && !ownerTag && promotionMayRun(deps, set)) {
      report.skipped.push({ nodeId: set.nodeId, reason: `a promotion onto ${owner} may still be running` });
      continue;
    }
    try {
      await healHalfAttached(deps, set, members, report);
    } catch (error) {
      logger.error('could not heal a half-attached set', { nodeId: set.nodeId, error: describeError(error) });
      report.errors.push({ nodeId: set.nodeId, error: describeError(error).message });
    }
  }

  for (const set of held) {
    if (late()) break;
    const holder = primary(set).attachedTo ?? '';
    const tagged = tags.get(holder)?.nodeId;
    if (!tagged || tagged === set.nodeId || members.get(holder)?.lifecycleState !== 'InService') continue;
    try {
      const pieces = await releaseFrom(deps, set, holder);
      deps.logger.warn('released a set from an instance that holds another one', {
        nodeId: set.nodeId,
        instanceId: holder,
        instanceNodeId: tagged,
        pieces,
      });
      report.released.push({ nodeId: set.nodeId, instanceId: holder, pieces });
    } catch (error) {
      report.errors.push({ nodeId: set.nodeId, error: describeError(error).message });
    }
  }

  // Holders that are attached but not prepared for the set they hold: prepare-node again.
  const unprepared = held.filter((set) => {
    const holder = primary(set).attachedTo ?? '';
    const tag = tags.get(holder);
    return (
      !isHalfAttached(set) &&
      members.get(holder)?.lifecycleState === 'InService' &&
      (!tag?.nodeId || tag.nodeId === set.nodeId) &&
      tag?.prepared !== set.nodeId
    );
  });
  report.gauges.Unprepared = unprepared.length;
  for (const set of unprepared.slice(0, deps.settings.maxPreparesPerRun)) {
    if (late()) break;
    const holder = primary(set).attachedTo ?? '';
    if (await releasedFromAgentless(deps, set, holder, report)) {
      report.gauges.Unprepared--;
      continue;
    }
    const ok = await reprepare(deps, set, holder);
    report.reprepared.push({ instanceId: holder, nodeId: set.nodeId, ok });
    if (ok) report.gauges.Unprepared--;
  }
  if (unprepared.length > deps.settings.maxPreparesPerRun) {
    logger.warn('more holders are unprepared than one run re-prepares: the next runs continue', {
      unprepared: unprepared.length,
      maxPreparesPerRun: deps.settings.maxPreparesPerRun,
    });
  }

  // Spares onto free sets, per AZ (a set freed by healing above counts too).
  const afterHeal = acted() ? await listSets(deps) : first;
  const holding = new Set(afterHeal.volumes.flatMap((v) => (v.attachedTo ? [v.attachedTo] : [])));
  const spares = await findSpares(deps, { group, tags, held: holding });
  report.gauges.Spares = spares.length;
  const free = afterHeal.sets.filter(isFree);
  // (A set with a piece outside the group is not free: it never reaches a spare.)
  const launching = group.some((i) => i.lifecycleState === 'Pending:Wait');
  for (const spare of spares) {
    if (late()) break;
    const index = free.findIndex((s) => s.availabilityZone === spare.availabilityZone);
    const set = free[index];
    if (!set) continue;
    free.splice(index, 1);
    const outcome = await promoteSpare(deps, spare.instanceId, set.nodeId, afterPrepare);
    report.promoted.push({ spareId: spare.instanceId, nodeId: set.nodeId, outcome });
    // Not this spare (its agent is not online, say): the set stays free for the next one.
    if (outcome === 'skipped') free.splice(index, 0, set);
  }
  if (launching) logger.info('launches in progress: they compete for free sets by the same claim rule');

  // Alarms belong to nodes, and to spares (or every instance of a scratch group) with scratch.
  const scratch = deps.settings.growth?.scratch;
  const scratchFor =
    scratch?.enabled === true && (!deps.settings.nodeSets || scratch.forSpares)
      ? spares.map((i) => i.instanceId)
      : [];
  const afterPromotions = report.promoted.length > 0 ? await listSets(deps) : afterHeal;
  const nodeIds = afterPromotions.sets.flatMap((set) => {
    const holder = primary(set).attachedTo;
    return holder && members.has(holder) && !members.get(holder)?.lifecycleState.startsWith('Terminat')
      ? [holder]
      : [];
  });
  if (deps.settings.growth && !late()) {
    const growth = await reconcileGrowth(deps, [...new Set([...nodeIds, ...scratchFor])].sort());
    report.gauges.StuckDiskAlarms = growth?.alarms.rearmed.length ?? 0;
  }
  publishGauges(deps, report.gauges);
  logger.info('reconcile finished', {
    finished: report.finished,
    released: report.released.length,
    promoted: report.promoted.length,
    reprepared: report.reprepared.length,
    unprepared: report.gauges.Unprepared,
    skipped: report.skipped.length,
    heldElsewhere: report.heldElsewhere.length,
    errors: report.errors.length,
  });
  return report;
}

/**
 * A promotion (the terminate flow's or a reconcile run's) attaches a set to an untagged spare and
 * tags it only once prepared; its undo detaches the pieces one by one, the primary last. Until it
 * ends, the half-attached set it leaves on the spare is its own: finishing it (attach the rest,
 * prepare-node) would mount what the undo is about to detach. A run lasts one invocation at most,
 * so such a set is the reconciler's once its primary has been attached longer than that.
 */
function promotionMayRun(deps: Deps, set: NodeSet): boolean {
  const attachTime = primary(set).attachTime;
  return attachTime !== undefined && deps.clock.now() - attachTime <= LAMBDA_MAX_SECONDS * 1000;
}

/**
 * A half-attached set: pieces attached to an instance that does not hold its primary are released
 * (never the primary: it may be mounted); a set whose primary is held by an InService instance is
 * finished (the rest attached, the instance tagged, prepare-node run again, which is idempotent).
 * Sets held by launching or terminating instances are left to their lifecycle handlers.
 */
async function healHalfAttached(
  deps: Deps,
  set: NodeSet,
  members: Map<string, GroupInstance>,
  report: ReconcileReport,
): Promise<void> {
  const owner = primary(set).attachedTo;
  const ownerMember = owner ? members.get(owner) : undefined;
  const busy = (id: string) => {
    const state = members.get(id)?.lifecycleState ?? '';
    return state === 'Pending:Wait' || state.startsWith('Terminating');
  };
  // Pieces on instances that do not hold the primary.
  for (const instanceId of holders(set).filter((id) => id !== owner)) {
    if (busy(instanceId)) {
      report.skipped.push({ nodeId: set.nodeId, reason: `${instanceId} is in a lifecycle action` });
      continue;
    }
    const pieces = await releaseFrom(deps, set, instanceId);
    deps.logger.warn('released pieces of a set held by an instance without its primary volume', {
      nodeId: set.nodeId,
      instanceId,
      pieces,
    });
    report.released.push({ nodeId: set.nodeId, instanceId, pieces });
  }
  if (!owner || !ownerMember) return; // (sets held outside the group never reach here)
  if (isPendingState(ownerMember.lifecycleState) && ownerMember.lifecycleState !== 'Pending:Proceed') {
    report.skipped.push({ nodeId: set.nodeId, reason: `${owner} is launching` });
    return;
  }
  if (ownerMember.lifecycleState.startsWith('Terminat')) {
    report.skipped.push({ nodeId: set.nodeId, reason: `${owner} is terminating` });
    return;
  }
  if (await releasedFromAgentless(deps, set, owner, report)) return;
  const log = newAttachLog();
  const held = await attachRest(deps, owner, set.nodeId, log);
  await tagInstanceNode(deps, owner, set.nodeId);
  await prepareHolder(deps, owner, held, log, { resume: true });
  await afterPrepare(deps, owner);
  deps.logger.info('finished a half-attached set', { nodeId: set.nodeId, instanceId: owner });
  report.finished.push(set.nodeId);
}

/**
 * A holder on which no SSM agent ever registered: no command ever ran there, so nothing of the set
 * can be mounted, and no prepare can ever succeed. The set is released for an instance that can
 * prepare it (a promotion cut at its deadline before its undo leaves this). False when the agent
 * registered (Online or not: a command may have run) or the release failed (reported).
 */
async function releasedFromAgentless(
  deps: Deps,
  set: NodeSet,
  holder: string,
  report: ReconcileReport,
): Promise<boolean> {
  if (await agentRegistered(deps, holder)) return false;
  // A promotion of this holder may still wait for its agent, then prepare at once: it starts only
  // while the agent may still come (timeouts.agentOnlineSeconds after launch) and lasts one
  // invocation at most. Released only past both, so that no prepare-node can mount what is detached.
  const instance = await describeInstance(deps, holder);
  const launchedAgo = deps.clock.now() - (instance?.launchTime ?? deps.clock.now());
  if (launchedAgo <= (deps.settings.timeouts.agentOnlineSeconds + LAMBDA_MAX_SECONDS) * 1000) return false;
  try {
    const pieces = await releaseFrom(deps, set, holder);
    deps.logger.warn('released a set from a holder whose SSM agent never registered', {
      nodeId: set.nodeId,
      instanceId: holder,
      pieces,
      fix: `check the instance profile (AmazonSSMManagedInstanceCore) and the route to the SSM endpoints of ${holder}, or terminate it so that the group replaces it`,
    });
    report.released.push({ nodeId: set.nodeId, instanceId: holder, pieces });
    return true;
  } catch (error) {
    report.errors.push({ nodeId: set.nodeId, error: describeError(error).message });
    return false;
  }
}

/**
 * Runs prepare-node again on a holder whose prepare has not succeeded for its set (it is
 * idempotent: a mounted set is left as it is); success writes the prepared mark. Never throws.
 */
async function reprepare(deps: Deps, set: NodeSet, instanceId: string): Promise<boolean> {
  try {
    deps.logger.warn('holder not prepared for its set: running prepare-node again', {
      nodeId: set.nodeId,
      instanceId,
    });
    const held = await attachRest(deps, instanceId, set.nodeId, newAttachLog());
    // The holder's own launch or promotion may be preparing it right now: wait for that command.
    await prepareHolder(deps, instanceId, held, newAttachLog(), { resume: true });
    // A promotion whose host step failed never tagged its holder: it is a node now.
    await tagInstanceNode(deps, instanceId, set.nodeId);
    await afterPrepare(deps, instanceId);
    return true;
  } catch (error) {
    deps.logger.error('re-prepare failed; the next run tries again', {
      nodeId: set.nodeId,
      instanceId,
      error: describeError(error),
    });
    return false;
  }
}

/** Detaches every piece of the set from one instance (ENI first, volumes in reverse) and waits. */
async function releaseFrom(deps: Deps, set: NodeSet, instanceId: string): Promise<string[]> {
  const pieces: string[] = [];
  if (set.eni?.attachedTo === instanceId) {
    await detachInterface(deps, set.eni.networkInterfaceId, instanceId);
    await waitForInterface(deps, set.eni.networkInterfaceId, interfaceAvailable, 'available');
    pieces.push(set.eni.networkInterfaceId);
  }
  for (const volume of [...set.volumes].reverse()) {
    if (volume.attachedTo !== instanceId) continue;
    await detachVolume(deps, volume.volumeId, instanceId);
    await waitForVolume(deps, volume.volumeId, volumeAvailable, 'available');
    pieces.push(volume.volumeId);
  }
  return pieces;
}
