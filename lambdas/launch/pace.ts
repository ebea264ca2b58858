/**
 * When a launch makes its calls (issue 14). EC2 throttles each API per account and Region with a
 * token bucket ("Request throttling for the Amazon EC2 API", Request token bucket sizes and refill
 * rates, https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): mutating
 * actions such as AttachVolume and AttachNetworkInterface hold 50 tokens refilled at 5 per second,
 * CreateTags 100 at 10, non-mutating Describe* 100 at 20. Every launch attaches once of each kind,
 * so a burst of launches stays under the limits when they start at most MUTATING_BUCKET at once
 * and MUTATING_REFILL_PER_SECOND a second after that: each launch's calls then follow the same
 * timeline, shifted by its place among the group's launching instances. The figures are the
 * documented defaults; an account whose limits were raised launches faster than needed, not
 * slower. Other callers in the account share the buckets: their calls are retried (backoff).
 *
 * The waits for state changes that take known time look first when that time has passed instead
 * of polling from the start (the same page: "give the request time to potentially complete").
 */
import type { GroupInstance } from '../aws/group-instances';

/** Mutating request bucket: size (documented default). */
export const MUTATING_BUCKET = 50;
/** Mutating request bucket: refill per second (documented default). */
export const MUTATING_REFILL_PER_SECOND = 5;

/**
 * From launch to `running`. Not documented by EC2 (it varies with the AMI and type); current
 * Nitro instances typically run within ~20 s. A later instance only costs the attach a retry
 * (AttachVolume answers IncorrectState, then is tried again with backoff).
 */
export const EXPECTED_BOOT_MS = 20_000;

/**
 * From `running` to the SSM agent Online (it starts with the OS, then registers). Not documented;
 * typically ~30 s. A later agent costs one refused SendCommand (InvalidInstanceId), then the
 * agent is polled.
 */
export const EXPECTED_AGENT_MS = 30_000;

/**
 * The place of an instance among the group's launching instances (Pending or Pending:Wait, every
 * AZ: the buckets are per Region), sorted by id; 0 when it is not among them.
 */
export function pacingRank(group: readonly GroupInstance[], instanceId: string): number {
  const launching = group
    .filter((i) => i.lifecycleState === 'Pending:Wait' || i.lifecycleState === 'Pending')
    .map((i) => i.instanceId)
    .sort();
  return Math.max(0, launching.indexOf(instanceId));
}

/**
 * How long a launch of this rank waits before its first EC2 call: the first MUTATING_BUCKET go at
 * once, then MUTATING_REFILL_PER_SECOND each whole second (a bucket refills once a second).
 */
export function pacingDelayMs(rank: number): number {
  if (rank < MUTATING_BUCKET) return 0;
  return Math.ceil((rank - MUTATING_BUCKET + 1) / MUTATING_REFILL_PER_SECOND) * 1000;
}

/**
 * When the instance should run and its agent be Online (epoch ms), if the launch time is known,
 * shifted by the launch's turn (pacingDelayMs).
 */
export function expectedTimes(
  launchTime: number | undefined,
  turnMs = 0,
): { running?: number; agent?: number } {
  if (launchTime === undefined) return {};
  const running = launchTime + EXPECTED_BOOT_MS + turnMs;
  return { running, agent: running + EXPECTED_AGENT_MS };
}

/**
 * Where this launch starts its search among the free sets: its place among the launches that
 * claim in the same turn in its AZ (sorted by id). Launches of earlier turns have claimed by then
 * (they left the free list), so the launches of one turn pick distinct sets. `undefined` when the
 * instance is not among the launching instances (the search then starts at a hash).
 */
export function claimRank(group: readonly GroupInstance[], instanceId: string): number | undefined {
  const launching = group
    .filter((i) => i.lifecycleState === 'Pending:Wait' || i.lifecycleState === 'Pending')
    .sort((a, b) => (a.instanceId < b.instanceId ? -1 : a.instanceId > b.instanceId ? 1 : 0));
  const rank = launching.findIndex((i) => i.instanceId === instanceId);
  const me = launching[rank];
  if (!me) return undefined;
  const turn = pacingDelayMs(rank);
  const peers = launching.filter(
    (i, r) => i.availabilityZone === me.availabilityZone && pacingDelayMs(r) === turn,
  );
  return peers.findIndex((i) => i.instanceId === instanceId);
}
