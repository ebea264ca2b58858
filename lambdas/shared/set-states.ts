/**
 * How a node set stands, read from its pieces' attachments (pure): used by the reconciler to plan
 * and by the CLI's status report, so both name a set's state the same way.
 */
import { holders, isFree, isHeldCompletelyBy, type NodeSet } from '../domain/node-sets';

/** Instances outside the group that hold some piece of the set (berth never touches them). */
export function holdersOutside(set: NodeSet, members: ReadonlyMap<string, unknown>): string[] {
  return holders(set).filter((id) => !members.has(id));
}

/** A set that is neither free nor completely held by one instance. */
export function isHalfAttached(set: NodeSet): boolean {
  if (isFree(set)) return false;
  const ids = holders(set);
  const only = ids[0];
  return !(ids.length === 1 && only !== undefined && isHeldCompletelyBy(set, only));
}
