/**
 * Node sets, pure: the volumes and the ENI that share one NodeID tag value and match the group's
 * filters, as records; the rule that makes them a valid set; the claim order (hash/rank rotation).
 * The AWS layer (lambdas/aws/set-resources.ts) lists them and converts the SDK's shapes to these.
 */
import { membership } from './growth-tags';

export interface SetVolume {
  volumeId: string;
  nodeId: string;
  /** From the ordinal tag; a lone volume without it is the primary (ordinal 0). */
  ordinal: number | undefined;
  availabilityZone: string;
  /** creating | available | in-use | deleting | … */
  state: string;
  sizeGiB: number;
  attachedTo: string | undefined;
  attachState: string | undefined;
  device: string | undefined;
  /** Epoch ms of the attachment, if attached. */
  attachTime: number | undefined;
  /** Growth's state tag (`berth:grow-state`) on a volume growth created; undefined otherwise. */
  growState?: string | undefined;
}

export interface SetInterface {
  networkInterfaceId: string;
  nodeId: string;
  availabilityZone: string;
  vpcId: string;
  subnetId: string;
  /** available | in-use | … */
  status: string;
  privateIp: string;
  /** The MAC address: how the host finds the interface once it is attached. */
  macAddress: string;
  attachedTo: string | undefined;
  attachState: string | undefined;
  deviceIndex: number | undefined;
}

/** A valid set: volumes sorted by ordinal (primary first), one ENI (none when volume-only), one AZ. */
export interface NodeSet {
  nodeId: string;
  availabilityZone: string;
  volumes: SetVolume[];
  /** Undefined in a volume-only group (settings.volumeOnly): its sets are volumes only. */
  eni?: SetInterface;
}

/** A NodeID whose resources do not form a valid set: logged with the ids and the fix, skipped. */
export interface SetProblem {
  nodeId: string;
  problem: string;
  fix: string;
  volumeIds: string[];
  networkInterfaceIds: string[];
}

export type SetCheck = { ok: true; set: NodeSet } | { ok: false; problem: SetProblem };

/**
 * Checks that one NodeID's resources form a valid set: exactly one ENI, at least one volume,
 * one primary (ordinal 0), distinct ordinals, all in one AZ. A lone volume without the ordinal tag
 * is the primary (sets made before berth); in a set of several, every volume needs the tag.
 * `volumeOnly`: the set is its volumes; ENIs are not looked at.
 */
export function validateSet(
  nodeId: string,
  volumes: readonly SetVolume[],
  allInterfaces: readonly SetInterface[],
  ordinalTagKey = 'berth:ordinal',
  volumeOnly = false,
): SetCheck {
  const interfaces = volumeOnly ? [] : allInterfaces;
  const volumeIds = volumes.map((v) => v.volumeId);
  const networkInterfaceIds = interfaces.map((n) => n.networkInterfaceId);
  const bad = (problem: string, fix: string): SetCheck => ({
    ok: false,
    problem: { nodeId, problem, fix, volumeIds, networkInterfaceIds },
  });
  if (volumes.length === 0 && volumeOnly) {
    return bad('has no volume', `tag the set's primary volume with ${ordinalTagKey}=0 and this NodeID`);
  }
  if (volumes.length === 0) {
    return bad(
      'has a network interface but no volume',
      `tag the set's primary volume with ${ordinalTagKey}=0 and this NodeID, or remove the NodeID tag from the interface`,
    );
  }
  if (interfaces.length === 0 && !volumeOnly) {
    return bad(
      'has volumes but no network interface',
      "create an ENI in the volumes' AZ with the same NodeID tag (and the group's filter tags)",
    );
  }
  if (interfaces.length > 1) {
    return bad('has more than one network interface', 'keep the NodeID tag on exactly one of these ENIs');
  }
  const azs = new Set([
    ...volumes.map((v) => v.availabilityZone),
    ...interfaces.map((n) => n.availabilityZone),
  ]);
  if (azs.size > 1) {
    return bad(
      `is split across Availability Zones (${[...azs].sort().join(', ')})`,
      'a set must live in one AZ: move the odd resources (snapshot and restore volumes, recreate the ENI) or retag them',
    );
  }
  const ordered = volumes.map((v) =>
    volumes.length === 1 && v.ordinal === undefined ? { ...v, ordinal: 0 } : v,
  );
  const missing = ordered.filter((v) => v.ordinal === undefined || v.ordinal < 0);
  if (missing.length > 0) {
    return bad(
      `has volumes without a valid ${ordinalTagKey} tag (${missing.map((v) => v.volumeId).join(', ')})`,
      `tag each volume of the set with ${ordinalTagKey}=<0,1,2…>, 0 on the primary`,
    );
  }
  const primaries = ordered.filter((v) => v.ordinal === 0);
  if (primaries.length !== 1) {
    return bad(
      primaries.length === 0
        ? 'has no primary volume (ordinal 0)'
        : 'has more than one primary volume (ordinal 0)',
      `tag exactly one volume of the set with ${ordinalTagKey}=0`,
    );
  }
  const ordinals = new Set(ordered.map((v) => v.ordinal));
  if (ordinals.size !== ordered.length) {
    return bad(
      'has two volumes with the same ordinal',
      `give each volume of the set its own ${ordinalTagKey}`,
    );
  }
  const eni = interfaces[0];
  const sorted = [...ordered].sort((a, b) => (a.ordinal ?? 0) - (b.ordinal ?? 0));
  return {
    ok: true,
    set: {
      nodeId,
      availabilityZone: eni?.availabilityZone ?? sorted[0]?.availabilityZone ?? '',
      volumes: sorted,
      ...(eni ? { eni } : {}),
    },
  };
}

/** Groups volumes and ENIs by NodeID and validates each group. */
export function groupSets(
  volumes: readonly SetVolume[],
  interfaces: readonly SetInterface[],
  ordinalTagKey?: string,
  volumeOnly = false,
): { sets: NodeSet[]; problems: SetProblem[] } {
  const byId = new Map<string, { volumes: SetVolume[]; interfaces: SetInterface[] }>();
  const entry = (id: string) => {
    let e = byId.get(id);
    if (!e) byId.set(id, (e = { volumes: [], interfaces: [] }));
    return e;
  };
  for (const v of volumes) if (v.nodeId !== '') entry(v.nodeId).volumes.push(v);
  for (const n of interfaces) if (n.nodeId !== '') entry(n.nodeId).interfaces.push(n);
  const sets: NodeSet[] = [];
  const problems: SetProblem[] = [];
  for (const [nodeId, e] of [...byId.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const check = validateSet(nodeId, e.volumes, e.interfaces, ordinalTagKey, volumeOnly);
    if (check.ok) sets.push(check.set);
    else problems.push(check.problem);
  }
  return { sets, problems };
}

/** Every piece of the set is available: nobody holds it. */
export function isFree(set: NodeSet): boolean {
  return (
    set.volumes.every((v) => v.state === 'available' && !v.attachedTo) &&
    (!set.eni || (set.eni.status === 'available' && !set.eni.attachedTo))
  );
}

/**
 * A grown volume that never joined a filesystem (`pending`, `refused`) and is attached nowhere:
 * no piece a holder needs. Nothing attaches it again; the reconciler deletes it.
 */
export function isLeftBehind(volume: SetVolume): boolean {
  return !volume.attachedTo && membership(volume.growState) === 'not-member';
}

/** Every piece is attached (state `attached`) to this one instance (pieces left behind aside). */
export function isHeldCompletelyBy(set: NodeSet, instanceId: string): boolean {
  return (
    set.volumes.every(
      (v) => (v.attachedTo === instanceId && v.attachState === 'attached') || isLeftBehind(v),
    ) &&
    (!set.eni || (set.eni.attachedTo === instanceId && set.eni.attachState === 'attached'))
  );
}

/** The instances that hold some piece of the set. */
export function holders(set: NodeSet): string[] {
  const ids = new Set<string>();
  for (const v of set.volumes) if (v.attachedTo) ids.add(v.attachedTo);
  if (set.eni?.attachedTo) ids.add(set.eni.attachedTo);
  return [...ids].sort();
}

export function primary(set: NodeSet): SetVolume {
  return set.volumes[0] as SetVolume;
}

/** Log fields of a problem (ids and the fix). */
export function problemFields(problem: SetProblem): Record<string, unknown> {
  return {
    nodeId: problem.nodeId,
    problem: problem.problem,
    fix: problem.fix,
    volumeIds: problem.volumeIds,
    networkInterfaceIds: problem.networkInterfaceIds,
  };
}

/**
 * Stable 32-bit FNV-1a hash: concurrent launches start their search at different sets.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h >>> 0;
}

/** The candidates in search order: starting at `start` (mod length), wrapping around. */
export function rotate<T>(items: readonly T[], start: number): T[] {
  if (items.length === 0) return [];
  const s = ((start % items.length) + items.length) % items.length;
  return [...items.slice(s), ...items.slice(0, s)];
}
