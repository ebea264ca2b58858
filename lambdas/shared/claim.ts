/**
 * Claiming a set without a lock service: attaching the primary volume *is* the claim (EC2 lets one
 * instance attach an available volume; the loser gets VolumeInUse/IncorrectState). The set's other
 * volumes follow in ordinal order, then its ENI, which is never contested because only the holder
 * of the primary attaches it. Concurrent launches start their search at different sets.
 */
import {
  attachAtFreeDevice,
  attachmentTo,
  describeInstance,
  detachVolume,
  volumeAttachedTo,
  volumeAvailable,
  waitForVolume,
  waitForVolumes,
  type InstanceView,
} from '../aws/attachments';
import { ContestedError } from '../aws/calls';
import {
  attachInterface,
  detachInterface,
  interfaceAttachedTo,
  interfaceAvailable,
  waitForInterface,
} from '../aws/network-interfaces';
import { membership, namedToHost } from '../domain/growth-tags';
import { isStuckAttaching } from '../domain/volume';
import type { Deps } from './deps';
import { describeError, FinalError } from './errors';
import { tagInstancePrepared } from '../aws/group-instances';
import { finishing, timeLeft } from './poll';
import { agentStatus, runScript } from '../aws/run-command';
import { describeSet, holdsOwnVolume, setVolumesPage } from '../aws/set-resources';
import { subnetCidr } from '../aws/network-interfaces';
import {
  hash32,
  isFree,
  isLeftBehind,
  primary,
  problemFields,
  rotate,
  type NodeSet,
} from '../domain/node-sets';

/** What this run attached (and may undo). */
export interface AttachLog {
  /**
   * The volumes this run attached, and (`found`) those it found attached to the instance by
   * another run of the same action: only the first are this run's to undo.
   */
  volumes: { volumeId: string; device: string; found?: true }[];
  /** The ENI this run attached (one found attached by another run is not recorded). */
  networkInterfaceId?: string;
  /**
   * A prepare-node command is on its way to the host (SendCommand returned its id, or one was
   * found in flight): from then on nothing is detached (it may be mounted). Never set before.
   */
  prepareSent: boolean;
  /** That command's id. */
  prepareCommandId?: string;
}

export const newAttachLog = (): AttachLog => ({ volumes: [], prepareSent: false });

export interface ClaimResult {
  set: NodeSet | undefined;
  /** Primary attach attempts (the claim cost). */
  attempts: number;
}

const MAX_ROUNDS = 12;
/** A launch ranked beyond the free sets waits this long, then looks again (the others claim first). */
const SURPLUS_DELAY_MS = 5000;

/**
 * Finds a complete free set in the instance's AZ and VPC and claims it. One DescribeVolumes page
 * (server-side filters: NodeID tag, `available`, the AZ, the group's filters) gives the candidate
 * NodeIDs; each candidate is described by its tag (two calls) and validated before its primary
 * is attached. The search starts at `rank` (the instance's place among the group's launching
 * instances, when known) or at a hash of the instance id; a lost race re-reads the free list and
 * starts again at another hash offset.
 */
export async function claimFreeSet(
  deps: Deps,
  instance: InstanceView,
  log: AttachLog,
  options: {
    rank?: number;
    /**
     * Epoch ms before which the instance is not expected to run (AttachVolume answers
     * IncorrectState before): the search reads first, the claim waits until then.
     */
    notBefore?: number;
  } = {},
): Promise<ClaimResult> {
  const skip = new Set<string>();
  let attempts = 0;
  let surplusWaited = false;
  for (let round = 0; round < MAX_ROUNDS; round++) {
    let token: string | undefined;
    let contested = false;
    let first = true;
    do {
      const page = await setVolumesPage(
        deps,
        [
          { Name: 'status', Values: ['available'] },
          { Name: 'availability-zone', Values: [instance.availabilityZone] },
        ],
        token,
      );
      const candidates = [...new Set(page.volumes.map((v) => v.nodeId))]
        .filter((id) => id !== '' && !skip.has(id))
        .sort();
      const start =
        first && round === 0 && options.rank !== undefined
          ? options.rank
          : hash32(`${instance.instanceId}#${round}`);
      if (
        first &&
        round === 0 &&
        options.rank !== undefined &&
        !page.nextToken &&
        candidates.length > 0 &&
        options.rank >= candidates.length &&
        !surplusWaited
      ) {
        // More launches than free sets: let those ranked within the list claim first, then look again.
        surplusWaited = true;
        await deps.clock.sleep(SURPLUS_DELAY_MS);
        contested = true;
        break;
      }
      first = false;
      for (const nodeId of rotate(candidates, start)) {
        const check = await describeSet(deps, nodeId);
        if (!check.ok) {
          deps.logger.error('node set skipped: bad data', problemFields(check.problem));
          skip.add(nodeId);
          continue;
        }
        const set = check.set;
        // A volume-only set has no VPC: its AZ decides.
        if (
          set.availabilityZone !== instance.availabilityZone ||
          (set.eni && set.eni.vpcId !== instance.vpcId)
        ) {
          deps.logger.warn('node set skipped: other AZ or VPC', {
            nodeId,
            setAz: set.availabilityZone,
            setVpc: set.eni?.vpcId,
            instanceAz: instance.availabilityZone,
            instanceVpc: instance.vpcId,
          });
          skip.add(nodeId);
          continue;
        }
        if (!isFree(set)) {
          skip.add(nodeId);
          continue;
        }
        const wait = (options.notBefore ?? 0) - deps.clock.now();
        if (wait > 0) await deps.clock.sleep(Math.min(wait, timeLeft(deps)));
        attempts++;
        try {
          let found = false;
          const at = await attachAtFreeDevice(
            deps,
            instance,
            primary(set).volumeId,
            log.volumes.map((v) => v.device),
            { onFound: () => (found = true) },
          );
          log.volumes.push({ volumeId: primary(set).volumeId, device: at, ...(found ? { found } : {}) });
          deps.logger.appendKeys({ nodeId });
          deps.logger.info('node set claimed', { nodeId, volumeId: primary(set).volumeId, attempts });
          return { set, attempts };
        } catch (error) {
          if (!(error instanceof ContestedError)) throw error;
          deps.logger.info('claim lost to another instance', { nodeId, holder: error.holder });
          skip.add(nodeId);
          contested = true;
          break;
        }
      }
      token = page.nextToken;
    } while (token && !contested);
    if (!contested) break;
  }
  return { set: undefined, attempts };
}

export interface HeldSet {
  set: NodeSet;
  /** Volumes as described once attached (devices), in ordinal order. */
  devices: string[];
}

/**
 * Attaches whatever of the set this instance does not hold yet: volumes in ordinal order, then the
 * ENI at `settings.eniDeviceIndex`; waits until everything is `attached` (unless `known.wait` is
 * false: the caller waits later, see the launch flow). Idempotent. `known` passes what the caller
 * described a moment ago (the set it just claimed, the instance), so that it is not read again.
 */
export async function attachRest(
  deps: Deps,
  instanceId: string,
  nodeId: string,
  log: AttachLog,
  known: { set?: NodeSet; instance?: InstanceView; wait?: boolean } = {},
): Promise<HeldSet> {
  let set = known.set;
  if (!set) {
    const check = await describeSet(deps, nodeId);
    if (!check.ok) {
      throw new FinalError(`node set ${nodeId} ${check.problem.problem}: ${check.problem.fix}`);
    }
    set = check.set;
  }
  const instance = known.instance ?? (await describeInstance(deps, instanceId));
  if (!instance) throw new FinalError(`instance ${instanceId} no longer exists`);
  const added: string[] = [];
  for (const volume of set.volumes) {
    if (volume.attachedTo === instanceId && volume.attachState === 'detaching') {
      // An undo that died half-way: let the detach finish, then attach again.
      await waitForVolume(deps, volume.volumeId, volumeAvailable, 'available');
      volume.attachedTo = undefined;
    }
    if (
      volume.attachedTo === instanceId &&
      isStuckAttaching(
        volume.attachState,
        volume.attachTime,
        deps.clock.now(),
        deps.settings.timeouts.attachSeconds,
      )
    ) {
      // An earlier run's attachment that never completed: detachVolume forces it (EBS's documented
      // recovery; such a volume never reached the host as a device, so nothing mounted it), then
      // it is attached again like a free piece.
      deps.logger.warn('volume stuck in attaching: forcing its detach, then attaching it again', {
        volumeId: volume.volumeId,
        instanceId,
      });
      await detachVolume(deps, volume.volumeId, instanceId);
      await waitForVolume(deps, volume.volumeId, volumeAvailable, 'available');
      volume.attachedTo = undefined;
    }
    if (volume.attachedTo === instanceId) continue;
    // A grown volume that never joined and is attached nowhere is no piece the host needs (it is
    // never named to prepare-node): not attached, so that no run races the reconciler deleting it.
    if (isLeftBehind(volume)) continue;
    // Attached by this run a moment ago (the claim): `known.set` was read before.
    if (log.volumes.some((v) => v.volumeId === volume.volumeId)) continue;
    if (volume.attachedTo) {
      throw new FinalError(
        `volume ${volume.volumeId} of ${nodeId} is attached to ${volume.attachedTo}, not ${instanceId}: the reconciler releases it`,
      );
    }
    let found = false;
    const at = await attachAtFreeDevice(
      deps,
      instance,
      volume.volumeId,
      [...log.volumes.map((v) => v.device), ...added],
      { onFound: () => (found = true) },
    );
    added.push(at);
    log.volumes.push({ volumeId: volume.volumeId, device: at, ...(found ? { found } : {}) });
  }
  // A volume-only set (settings.volumeOnly) has no ENI to attach.
  const eni = set.eni;
  if (eni && eni.attachedTo === instanceId && eni.attachState === 'detaching') {
    await waitForInterface(deps, eni.networkInterfaceId, interfaceAvailable, 'available');
    eni.attachedTo = undefined;
  }
  if (eni && eni.attachedTo !== instanceId) {
    if (eni.attachedTo) {
      throw new FinalError(
        `ENI ${eni.networkInterfaceId} of ${nodeId} is attached to ${eni.attachedTo}, not ${instanceId}: the reconciler releases it`,
      );
    }
    const occupant = instance.interfaces.find((n) => n.deviceIndex === deps.settings.eniDeviceIndex);
    if (occupant && occupant.networkInterfaceId !== eni.networkInterfaceId) {
      throw new FinalError(
        `${instanceId} already has ${occupant.networkInterfaceId} at device index ${deps.settings.eniDeviceIndex}: set eniDeviceIndex to a free index or remove the extra interface from the launch template`,
      );
    }
    const attached = await attachInterface(
      deps,
      eni.networkInterfaceId,
      instanceId,
      deps.settings.eniDeviceIndex,
    );
    if (attached === 'attached') log.networkInterfaceId = eni.networkInterfaceId;
  }
  // The set as this instance holds it: without the pieces left behind.
  set = { ...set, volumes: set.volumes.filter((v) => !isLeftBehind(v)) };
  if (known.wait === false) return { set, devices: [] };
  const described = await waitForVolumes(
    deps,
    set.volumes.map((v) => v.volumeId),
    volumeAttachedTo(instanceId),
    `attached to ${instanceId}`,
  );
  if (eni)
    await waitForInterface(
      deps,
      eni.networkInterfaceId,
      interfaceAttachedTo(instanceId),
      `attached to ${instanceId}`,
    );
  const devices = described.map((v) => attachmentTo(v, instanceId)?.Device ?? '');
  return { set, devices };
}

/**
 * Runs prepare-node for a held set (mkfs only on a blank device, mount, env file, unit). With
 * `resume`, a command of an earlier run still in flight on the host is waited for instead of
 * sending another; without, a command sent at the same time by another run executes after it on
 * the host (the host lock) and finds the set prepared. `log.prepareSent`
 * turns true only once a command is known to be on its way: an agent that never came online or a
 * SendCommand refused as a whole (InvalidInstanceId) leaves it false, so the undo may detach.
 */
export async function prepareHolder(
  deps: Deps,
  instanceId: string,
  held: HeldSet,
  log: AttachLog,
  options: {
    /** Write the NodeID tag with the prepared mark (one CreateTags). */
    withNodeId?: boolean;
    /** When the agent is expected Online (epoch ms): no agent look before then. */
    agentExpectedAt?: number;
    /** An earlier run may have sent prepare-node: adopt its command while it is in flight. */
    resume?: boolean;
  } = {},
): Promise<void> {
  const s = deps.settings;
  const members = filesystemMembers(held);
  const run = await runScript(
    deps,
    instanceId,
    'prepareNode',
    {
      VolumeIds: members.map((v) => v.volumeId).join(','),
      DeviceNames: members.map((v) => v.device).join(','),
      MountPoint: s.mountPoint,
      Filesystem: s.filesystem,
      NodeId: held.set.nodeId,
      // Empty for a volume-only set: prepare-node then writes no interface and no IP.
      NetworkInterfaceId: held.set.eni?.networkInterfaceId ?? '',
      NodeIp: held.set.eni?.privateIp ?? '',
      NodeMac: held.set.eni?.macAddress ?? '',
      NodeSubnetCidr: held.set.eni ? await subnetCidr(deps, held.set.eni.subnetId) : '',
      EnvFile: s.envFile,
      ServiceUnit: s.serviceUnit ?? '',
    },
    {
      ...(options.resume ? { resume: true } : {}),
      ...(options.agentExpectedAt !== undefined ? { agentExpectedAt: options.agentExpectedAt } : {}),
      onSent: (commandId) => {
        log.prepareSent = true;
        log.prepareCommandId = commandId;
      },
      // A SendCommand whose answer was lost may still reach the host and mount the set: from the
      // request on, nothing is detached, unless SSM refused it unprocessed (nothing was sent).
      onSending: (maybeSent) => {
        if (log.prepareCommandId === undefined) log.prepareSent = maybeSent;
      },
    },
  );
  deps.logger.info('prepare-node done', { commandId: run.commandId, result: run.result });
  await tagInstancePrepared(deps, instanceId, held.set.nodeId, { withNodeId: options.withNodeId === true });
}

/**
 * The volumes prepare-node is given: the set's filesystem members. A grown volume whose grow died
 * before the host step (`pending`), that the host refused (`refused`), or whose outcome was never
 * recorded (`unknown`: older versions left blank ones) may be blank: handing it over would make a
 * blank-plus-data set, which the script refuses, and every launch of the set would be abandoned.
 * It stays attached and follows the set: if it did join (a btrfs member), the filesystem finds it
 * on the host by its device (btrfs scans attached devices) without being named; the reconciler
 * settles or deletes it under growth's rules (never an `unknown` one).
 */
export function filesystemMembers(held: HeldSet): { volumeId: string; device: string }[] {
  return held.set.volumes
    .map((v, i) => ({ volumeId: v.volumeId, device: held.devices[i] ?? '', growState: v.growState }))
    .filter((v) => namedToHost(membership(v.growState)))
    .map(({ volumeId, device }) => ({ volumeId, device }));
}

/**
 * Undoes what this run attached: the ENI first, then the volumes in reverse order, and waits until
 * they are available. Never after prepare-node was sent (a volume may be mounted), and never a
 * piece another run of the same action attached (`found`): that run may be preparing it right
 * now. Best effort: returns whether everything of this run's was released.
 */
export async function undoAttachments(workDeps: Deps, instanceId: string, log: AttachLog): Promise<boolean> {
  // A step cut at the deadline is undone in the margin after it.
  const deps = finishing(workDeps);
  if (log.prepareSent) {
    deps.logger.warn(
      'not detaching: prepare-node ran and the volumes may be mounted; termination releases them',
      {
        volumeIds: log.volumes.map((v) => v.volumeId),
      },
    );
    return false;
  }
  let ok = true;
  try {
    if (log.networkInterfaceId) {
      await detachInterface(deps, log.networkInterfaceId, instanceId);
      await waitForInterface(deps, log.networkInterfaceId, interfaceAvailable, 'available');
    }
  } catch (error) {
    ok = false;
    deps.logger.error('undo: could not detach the ENI', {
      networkInterfaceId: log.networkInterfaceId,
      error: describeError(error),
    });
  }
  for (const volume of [...log.volumes].reverse()) {
    if (volume.found) continue;
    try {
      await detachVolume(deps, volume.volumeId, instanceId);
      await waitForVolume(deps, volume.volumeId, volumeAvailable, 'available');
    } catch (error) {
      ok = false;
      deps.logger.error('undo: could not detach a volume', {
        volumeId: volume.volumeId,
        error: describeError(error),
      });
    }
  }
  if (ok)
    deps.logger.info('undo: released what this run attached', {
      volumeIds: log.volumes.map((v) => v.volumeId),
    });
  return ok;
}

/** Hook run once a set is prepared (the node's disk alarm, when growth is on). */
export type AfterPrepare = (deps: Deps, instanceId: string) => Promise<void>;

export type PromoteOutcome = 'promoted' | 'lost' | 'failed' | 'skipped';

/**
 * Gives a free set to a spare (no lifecycle action): the same claim path, then prepare-node.
 * `lost` when another instance claimed it first.
 */
export async function promoteSpare(
  deps: Deps,
  spareId: string,
  nodeId: string,
  afterPrepare?: AfterPrepare,
): Promise<PromoteOutcome> {
  const log = newAttachLog();
  try {
    const instance = await describeInstance(deps, spareId);
    if (!instance || (instance.state !== 'running' && instance.state !== 'pending')) return 'failed';
    if (deps.settings.growth?.scratch.forSpares && (await holdsOwnVolume(deps, spareId))) {
      deps.logger.warn('spare not promoted: its scratch filesystem is mounted at the mount point', {
        spareId,
        nodeId,
        fix: 'replace the spare (terminate it) so that a fresh instance claims the set, or turn growth.scratch.forSpares off',
      });
      return 'skipped';
    }
    // An agent that lost its connection, or that never registered on a spare running longer than
    // an agent takes to come, cannot prepare the set: a wait for it could outlast the run and leave
    // the set attached and unprepared. The set stays free for a spare or a launch that can.
    const agent = await agentStatus(deps, spareId);
    const launchedAgo = deps.clock.now() - (instance.launchTime ?? deps.clock.now());
    if (
      agent !== 'Online' &&
      (agent !== undefined || launchedAgo > deps.settings.timeouts.agentOnlineSeconds * 1000)
    ) {
      deps.logger.warn('spare not promoted: its SSM agent is not online', {
        spareId,
        nodeId,
        agent: agent ?? 'never registered',
        fix: 'check the instance profile (AmazonSSMManagedInstanceCore) and its route to the SSM endpoints, or terminate the spare so that the group replaces it',
      });
      return 'skipped';
    }
    const check = await describeSet(deps, nodeId);
    if (!check.ok) {
      deps.logger.error('node set skipped: bad data', problemFields(check.problem));
      return 'failed';
    }
    if (!isFree(check.set) || check.set.availabilityZone !== instance.availabilityZone) return 'lost';
    try {
      let found = false;
      const at = await attachAtFreeDevice(deps, instance, primary(check.set).volumeId, [], {
        onFound: () => (found = true),
      });
      log.volumes.push({ volumeId: primary(check.set).volumeId, device: at, ...(found ? { found } : {}) });
    } catch (error) {
      if (error instanceof ContestedError) return 'lost';
      throw error;
    }
    const held = await attachRest(deps, spareId, nodeId, log);
    // Tagged once prepared: a promotion undone (agent offline) leaves a spare, not a tagged husk.
    await prepareHolder(deps, spareId, held, log, { withNodeId: true });
    if (afterPrepare) await afterPrepare(deps, spareId);
    deps.logger.info('spare promoted', { spareId, nodeId });
    return 'promoted';
  } catch (error) {
    deps.logger.error('spare promotion failed', { spareId, nodeId, error: describeError(error) });
    await undoAttachments(deps, spareId, log);
    return 'failed';
  }
}

/**
 * The rank of an instance among the group's launching instances (Pending:Wait) in its AZ, sorted
 * by id: launches that see the same free list and the same launching instances pick distinct sets.
 */
export function launchRank(
  launching: readonly { instanceId: string; availabilityZone: string; lifecycleState: string }[],
  instance: { instanceId: string; availabilityZone: string },
): number | undefined {
  const peers = launching
    .filter((i) => i.lifecycleState === 'Pending:Wait' && i.availabilityZone === instance.availabilityZone)
    .map((i) => i.instanceId)
    .sort();
  const index = peers.indexOf(instance.instanceId);
  return index < 0 ? undefined : index;
}
