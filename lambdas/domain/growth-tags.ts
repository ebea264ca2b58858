/**
 * Tags berth writes on the volumes growth creates. They are the only state growth keeps: no table,
 * no lock. A volume's tags say which instance it was made for, which trigger made it, and whether
 * it has joined the filesystem.
 */
import type { Settings } from '../shared/config';

/** The instance a growth or scratch volume was created for (the reaper checks it is still alive). */
export const TAG_INSTANCE = 'berth:instance';
/**
 * `pending` from CreateVolume until the host step: the volume has provably never been handed to
 * the host. `joining` just before grow-filesystem runs, `joined` once it succeeded, `unknown` when
 * it failed in a way that may have left the device in the filesystem (never deleted), `refused`
 * when the host said the device did not join (then deleted).
 */
export const TAG_GROW_STATE = 'berth:grow-state';
/** The ClientToken of the trigger that created the volume. */
export const TAG_GROW_TOKEN = 'berth:grow-token';
/** `scratch` for the volume a set-less instance starts with. */
export const TAG_ROLE = 'berth:role';
/** In-place strategy, on the enlarged volume: start times (epoch s) of berth's modifications. */
export const TAG_MODIFICATIONS = 'berth:modifications';
/** In-place strategy: the token of the trigger whose modification is running, and its state. */
export const TAG_EXPAND_TOKEN = 'berth:expand-token';
export const TAG_EXPAND_STATE = 'berth:expand-state';

/**
 * On an instance: the NodeID of the set prepare-node last succeeded for (written after success).
 * A holder whose tag is missing or names another set is not prepared: the reconciler re-runs it.
 */
export const TAG_PREPARED = 'berth:prepared';

export type GrowState = 'pending' | 'joining' | 'joined' | 'unknown' | 'refused';

/** A pending grow older than this is taken to be abandoned (its run died) and is resumed. */
export function staleAfterMs(settings: Pick<Settings, 'timeouts'>): number {
  const t = settings.timeouts;
  return (2 * t.attachSeconds + t.agentOnlineSeconds + t.commandSeconds + 120) * 1000;
}

/**
 * Whether a volume is in its node's filesystem, read from growth's state tag: ONE rule for the
 * three places that ask (grow's limits and devices, the disk alarm's threshold, the volumes
 * prepare-node is given). A volume without the tag (a set's own volume) and a `joined` one are
 * members; `pending` (never handed to a host) and `refused` (the host said it did not join) are
 * not; a `joining` volume of this instance's own grow is not yet; one that was joining on the
 * set's previous instance, and an `unknown` one, may be (the device may or may not have joined).
 */
export type Membership = 'member' | 'not-member' | 'maybe';

export function membership(growState: string | undefined, joiningOnThisInstance = false): Membership {
  switch (growState) {
    case undefined:
    case '':
    case 'joined':
      return 'member';
    case 'pending':
    case 'refused':
      return 'not-member';
    case 'joining':
      return joiningOnThisInstance ? 'not-member' : 'maybe';
    default:
      return 'maybe';
  }
}

/** Counted in the filesystem's size and volume count (grow's limits, the alarm threshold): whatever may hold its data. */
export const countsTowardFilesystem = (m: Membership): boolean => m !== 'not-member';

/** Named to prepare-node: only a sure member (a `maybe` may be blank, and the script refuses a blank-plus-data set). */
export const namedToHost = (m: Membership): boolean => m === 'member';

/** `countsTowardFilesystem` for a volume's tags on one instance (grow's limits and the alarm threshold). */
export function countedInFilesystem(tags: Readonly<Record<string, string>>, instanceId: string): boolean {
  return countsTowardFilesystem(membership(tags[TAG_GROW_STATE], tags[TAG_INSTANCE] === instanceId));
}
