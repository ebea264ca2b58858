/**
 * The invariants berth must keep whatever happens (lost, duplicated or reordered events, throttling,
 * handlers killed half-way), read from the local cloud's state. Checked by the fault campaign after
 * the reconciler has run, and by the end-to-end scenarios after each step.
 */
import type { LocalCloud } from '../local-cloud';

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
}

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
    if (exists && !joined) {
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
