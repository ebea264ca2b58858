/**
 * The invariants berth must keep whatever happens (lost, duplicated or reordered events, throttling,
 * handlers killed half-way), read from the local cloud's state. Checked by the fault campaign after
 * the reconciler has run, and by the end-to-end scenarios after each step.
 */
import type { LocalCloud } from '../../local-cloud/src';

export const INVARIANTS = [
  /** No NodeID set has members attached to two different instances. */
  'setOnTwoInstances',
  /** No NodeID set is partly attached (some members attached, others not), nor held by a dead instance. */
  'setHalfAttached',
  /** Every lifecycle action was completed by berth (none timed out, none left waiting). */
  'lifecycleNotCompleted',
  /** A volume berth created that never joined a filesystem still exists. */
  'grownVolumeLeaked',
  /** A volume that joined a filesystem (or any NodeID volume) was deleted. */
  'volumeDeletedWrongly',
  /** A NodeID volume of the initial sets no longer exists. */
  'nodeIdVolumeMissing',
  /**
   * A holder (an InService instance holding a complete set) has no successful prepare-node for it
   * that ended within `preparedWithinMs` of the set's attachment (judged from the SSM command history).
   */
  'holderNotPrepared',
  /**
   * Two host steps executed at once on one instance. Commands may be in flight together; the agent
   * scripts' host lock makes them execute one after another (judged from the SSM command history).
   */
  'hostStepsAtOnce',
  /** A prepare-node succeeded on an instance after a quiesce-node had succeeded there (the fence). */
  'preparedAfterQuiesce',
  /** A volume is attached to an instance in another Availability Zone. */
  'volumeInOtherZone',
  /** A node (or any instance that should have one) has no disk alarm. */
  'nodeWithoutAlarm',
  /** A disk alarm exists for an instance that is gone (terminated, or no longer in the group). */
  'alarmOfGoneInstance',
  /** A volume of a NodeID that may hold data (not a never-joined grow volume) was deleted, ever. */
  'nodeIdVolumeDeleted',
  /**
   * DetachVolume was called for a volume the host had mounted (a prepare-node that mounted it had
   * started there, and no quiesce-node had unmounted it since): judged by the host model.
   */
  'volumeDetachedWhileMounted',
] as const;

export type InvariantName = (typeof INVARIANTS)[number];

export interface Violation {
  invariant: InvariantName;
  detail: string;
}

export interface InvariantInput {
  cloud: LocalCloud;
  /** The NodeID tag key (default `NodeID`). */
  nodeIdTagKey?: string;
  /** Volume ids of the NodeID sets as they were seeded. */
  seededVolumeIds: readonly string[];
  /** Volume ids created through CreateVolume (by berth), from the EC2 `volumeCreated` hook. */
  createdVolumeIds: readonly string[];
  /** Volumes a host reported as joined to its filesystem (successful grow-filesystem / prepare-node). */
  joinedVolumeIds: ReadonlySet<string>;
  /** Lifecycle actions that were still waiting, and that timed out (from the Auto Scaling model). */
  pendingActions: readonly unknown[];
  timedOutActions: readonly unknown[];
  /** The group (for holders, alarms); without it the holder and alarm checks are skipped. */
  groupName?: string;
  /** Document name of prepare-node. @default 'berth-prepare-node' (the fence check: any `…prepare-node`) */
  prepareDocument?: string;
  /** Document name of quiesce-node. @default any `…quiesce-node` */
  quiesceDocument?: string;
  /** How soon after its set's attachment a holder must have been prepared. @default 45 min */
  preparedWithinMs?: number;
  /** Name prefix of the group's disk alarms (`<alarmPrefix><group>-`); unset: no alarm checks. */
  alarmNamePrefix?: string;
  /** Every volume deletion of the run, with the volume's tags at the time (EC2 volumeDeleted hook). */
  deletedVolumes?: readonly { volumeId: string; tags: Record<string, string>; why: string }[];
  /** Every DetachVolume of a volume the host model had mounted, with who asked (the host model). */
  detachedWhileMounted?: readonly { volumeId: string; instanceId: string; by: string }[];
}

/** Grow states of a volume that never joined a filesystem (growth's state machine, lambdas/domain/growth-tags.ts). */
const NEVER_JOINED = new Set(['pending', 'refused']);

const GONE = new Set(['deleting', 'deleted']);
const DEAD = new Set(['shutting-down', 'terminated']);

/** Every violation of the invariants in the cloud's current state (empty when all hold). */
export function checkInvariants(input: InvariantInput): Violation[] {
  const { cloud } = input;
  const key = input.nodeIdTagKey ?? 'NodeID';
  const violations: Violation[] = [];
  const add = (invariant: InvariantName, detail: string): void => {
    violations.push({ invariant, detail });
  };
  const volumes = cloud.ec2.volumes();
  const volumeById = new Map(volumes.map((v) => [v.volumeId, v]));
  const instanceState = new Map(cloud.ec2.instances().map((i) => [i.instanceId, i.state]));

  // --- sets: volumes and ENIs by NodeID ----------------------------------------------------------
  const sets = new Map<string, { members: string[]; holders: Map<string, string[]>; detached: string[] }>();
  const member = (nodeId: string, id: string, holder: string | undefined): void => {
    let set = sets.get(nodeId);
    if (!set) sets.set(nodeId, (set = { members: [], holders: new Map(), detached: [] }));
    set.members.push(id);
    if (holder) set.holders.set(holder, [...(set.holders.get(holder) ?? []), id]);
    else set.detached.push(id);
  };
  for (const v of volumes) {
    const nodeId = v.tags[key];
    if (nodeId === undefined || GONE.has(v.state)) continue;
    const attachment = v.attachments.find((a) => a.state !== 'detached');
    member(nodeId, v.volumeId, attachment?.instanceId);
  }
  for (const eni of cloud.ec2.networkInterfaces()) {
    const nodeId = eni.tags[key];
    if (nodeId === undefined) continue;
    const attachment = eni.attachment && eni.attachment.state !== 'detached' ? eni.attachment : undefined;
    member(nodeId, eni.networkInterfaceId, attachment?.instanceId);
  }
  for (const [nodeId, set] of [...sets.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const holders = [...set.holders.keys()];
    if (holders.length > 1) {
      add(
        'setOnTwoInstances',
        `${nodeId}: ${[...set.holders.entries()].map(([i, ids]) => `${i} holds ${ids.join(',')}`).join('; ')}`,
      );
    } else if (holders.length === 1 && set.detached.length > 0) {
      add(
        'setHalfAttached',
        `${nodeId}: ${holders[0]} holds only part of it; not attached: ${set.detached.join(',')}`,
      );
    }
    for (const holder of holders) {
      const state = instanceState.get(holder);
      if (state === undefined || DEAD.has(state))
        add('setHalfAttached', `${nodeId}: held by ${holder}, which is ${state ?? 'unknown'}`);
    }
  }

  // --- lifecycle actions -------------------------------------------------------------------------
  for (const action of input.timedOutActions)
    add('lifecycleNotCompleted', `timed out: ${JSON.stringify(action)}`);
  for (const action of input.pendingActions)
    add('lifecycleNotCompleted', `still waiting: ${JSON.stringify(action)}`);

  // --- volumes berth created and volumes of the sets -----------------------------------------
  const seeded = new Set(input.seededVolumeIds);
  for (const id of input.createdVolumeIds) {
    if (seeded.has(id)) continue;
    const v = volumeById.get(id);
    const exists = v !== undefined && !GONE.has(v.state);
    const joined = input.joinedVolumeIds.has(id);
    // A grown volume whose outcome berth could not learn (`unknown`, or `joining` when its grow
    // died) may hold data: berth never deletes it without asking a host, and it follows its set.
    // Left in a free set (no instance holds any piece), it waits for the set's next holder, whose
    // reconciler run asks the host: no leak yet.
    const maybeMember = ['unknown', 'joining'].includes(v?.tags['berth:grow-state'] ?? '');
    const setNodeId = v?.tags[key];
    const waitsForHolder =
      maybeMember && setNodeId !== undefined && (sets.get(setNodeId)?.holders.size ?? 0) === 0;
    if (exists && !joined && !waitsForHolder) {
      const where = v.attachments.find((a) => a.state !== 'detached');
      add(
        'grownVolumeLeaked',
        `${id} (${v.state}${where ? ` on ${where.instanceId}` : ''}, NodeID ${v.tags[key] ?? 'none'}${berthTags(v.tags)}) never joined a filesystem`,
      );
    }
    if (!exists && joined && v?.tags[key] !== undefined)
      add('volumeDeletedWrongly', `${id} joined the filesystem of ${v.tags[key]} and was deleted`);
  }
  for (const id of input.seededVolumeIds) {
    const v = volumeById.get(id);
    if (v === undefined || GONE.has(v.state))
      add('nodeIdVolumeMissing', `${id} (NodeID ${v?.tags[key] ?? '?'}) is ${v?.state ?? 'gone'}`);
  }
  for (const d of input.deletedVolumes ?? []) {
    const state = d.tags['berth:grow-state'];
    if (d.tags[key] !== undefined && (state === undefined || !NEVER_JOINED.has(state)))
      add(
        'nodeIdVolumeDeleted',
        `${d.volumeId} (NodeID ${d.tags[key]}, grow state ${state ?? 'none'}) was deleted (${d.why})`,
      );
  }

  for (const d of input.detachedWhileMounted ?? [])
    add(
      'volumeDetachedWhileMounted',
      `${d.volumeId} was detached from ${d.instanceId} while mounted there (by ${d.by})`,
    );

  // --- zones ---------------------------------------------------------------------------------------
  const instances = new Map(cloud.ec2.instances().map((i) => [i.instanceId, i]));
  for (const v of volumes) {
    for (const a of v.attachments) {
      const zone = instances.get(a.instanceId)?.availabilityZone;
      if (a.state !== 'detached' && zone !== undefined && zone !== v.availabilityZone)
        add(
          'volumeInOtherZone',
          `${v.volumeId} (${v.availabilityZone}) is attached to ${a.instanceId} in ${zone}`,
        );
    }
  }

  // --- host steps: one at a time on one instance; none prepares a host its quiesce released ------
  const history = cloud.ssm.commandHistory();
  const byInstance = new Map<string, typeof history>();
  for (const inv of history) byInstance.set(inv.instanceId, [...(byInstance.get(inv.instanceId) ?? []), inv]);
  const isDocument = (name: string, exact: string | undefined, suffix: string): boolean =>
    exact !== undefined ? name === exact : name.endsWith(suffix);
  for (const [instanceId, runs] of byInstance) {
    const ran = runs.filter((r) => r.ranAt !== undefined).sort((a, b) => (a.ranAt ?? 0) - (b.ranAt ?? 0));
    for (let i = 1; i < ran.length; i++) {
      const next = ran[i];
      const running = ran.slice(0, i).find((r) => (r.ranUntil ?? Infinity) > (next?.ranAt ?? 0));
      if (next && running)
        add(
          'hostStepsAtOnce',
          `${instanceId}: ${next.documentName} ${next.commandId} began at t=${next.ranAt} while ${running.documentName} ${running.commandId} ran (until ${running.ranUntil ?? '-'})`,
        );
    }
    const quiesced = ran.find(
      (r) => r.status === 'Success' && isDocument(r.documentName, input.quiesceDocument, 'quiesce-node'),
    );
    const prepared = quiesced
      ? ran.find(
          (r) =>
            r.status === 'Success' &&
            isDocument(r.documentName, input.prepareDocument, 'prepare-node') &&
            (r.ranAt ?? 0) >= (quiesced.ranUntil ?? Infinity),
        )
      : undefined;
    if (quiesced && prepared)
      add(
        'preparedAfterQuiesce',
        `${instanceId}: prepare-node ${prepared.commandId} succeeded at t=${prepared.ranAt} after quiesce-node ${quiesced.commandId} released the host at t=${quiesced.ranUntil ?? '-'}`,
      );
  }

  // --- holders are prepared; alarms match the nodes -------------------------------------------------
  if (input.groupName !== undefined) {
    const group = input.groupName;
    const inService = new Set(
      cloud.autoscaling
        .instanceIds(group)
        .filter((id) => cloud.autoscaling.lifecycleState(id) === 'InService'),
    );
    const prepareDocument = input.prepareDocument ?? 'berth-prepare-node';
    const within = input.preparedWithinMs ?? 45 * 60_000;
    const now = cloud.clock.now();
    const nodes: string[] = [];
    for (const [nodeId, set] of sets) {
      const holders = [...set.holders.keys()];
      const holder = holders[0];
      if (holders.length !== 1 || holder === undefined || set.detached.length > 0 || !inService.has(holder))
        continue;
      if (instances.get(holder)?.state !== 'running') continue;
      nodes.push(holder);
      // The claim: the attachment of the set's primary volume (ordinal 0; grown volumes join later).
      const primary =
        set.members.map((id) => volumeById.get(id)).find((v) => v?.tags['berth:ordinal'] === '0') ??
        volumeById.get(set.members[0] ?? '');
      const attachedAt = primary?.attachments[0]?.attachTime ?? 0;
      const prepared = history
        .filter(
          (inv) =>
            inv.instanceId === holder &&
            inv.documentName === prepareDocument &&
            inv.status === 'Success' &&
            inv.requestedAt >= attachedAt - 1 &&
            inv.endAt !== undefined,
        )
        .sort((a, b) => (a.endAt ?? 0) - (b.endAt ?? 0))[0];
      if (!prepared) {
        if (now - attachedAt > within)
          add(
            'holderNotPrepared',
            `${nodeId} on ${holder}: no successful prepare-node since its attachment at t=${attachedAt}`,
          );
      } else if ((prepared.endAt ?? 0) - attachedAt > within) {
        add(
          'holderNotPrepared',
          `${nodeId} on ${holder}: prepared ${Math.round(((prepared.endAt ?? 0) - attachedAt) / 1000)} s after its attachment (bound ${within / 1000} s)`,
        );
      }
    }
    if (input.alarmNamePrefix !== undefined) {
      const prefix = input.alarmNamePrefix;
      const alarms = cloud.cloudwatch.alarmNames().filter((n) => n.startsWith(prefix));
      const owners = new Set(alarms.map((n) => n.slice(prefix.length)));
      for (const node of nodes)
        if (!owners.has(node)) add('nodeWithoutAlarm', `${node} holds a set and has no disk alarm`);
      const members = new Set(cloud.autoscaling.instanceIds(group));
      for (const owner of owners) {
        const state = instances.get(owner)?.state;
        const lifecycle = cloud.autoscaling.lifecycleState(owner);
        if (state === undefined || DEAD.has(state) || !members.has(owner) || lifecycle === 'Terminated')
          add(
            'alarmOfGoneInstance',
            `${prefix}${owner}: ${owner} is ${state ?? 'gone'} (${lifecycle ?? 'not in the group'})`,
          );
      }
    }
  }
  return violations;
}

/** berth's own tags on a resource (`berth:grow-state=unknown`, …), for violation details. */
function berthTags(tags: Record<string, string>): string {
  const own = Object.entries(tags).filter(([k]) => k.startsWith('berth:') && k !== 'berth:group');
  return own.map(([k, v]) => `, ${k}=${v}`).join('');
}

/** Counts per invariant (every invariant present, 0 when it held). */
export function countViolations(violations: readonly Violation[]): Record<InvariantName, number> {
  const counts = Object.fromEntries(INVARIANTS.map((name) => [name, 0])) as Record<InvariantName, number>;
  for (const v of violations) counts[v.invariant]++;
  return counts;
}
