/**
 * What each handler keeps back from its Lambda deadline, and the bounds the construct checks the
 * timeouts against at synth. Pure: the infra imports it (no SDK, no Powertools).
 */

/** Lambda's longest invocation (berth's functions run with it): no run of any handler outlives it. */
export const LAMBDA_MAX_SECONDS = 900;

/**
 * Seconds a handler keeps back from its deadline to finish without waiting: launch undoes what it
 * attached and ABANDONs (or hands a running prepare-node to its retry); terminate completes the
 * action with what is safe; grow marks its volume for the reconciler; reconcile publishes its gauges.
 */
export const HANDOVER_SECONDS = { launch: 120, terminate: 60, grow: 60, reconcile: 30 } as const;

/**
 * quiesce-node's busy-mount wait (timeouts.quiesceSeconds) ends this long before the document's
 * timeout (timeouts.commandSeconds): stopping the unit, sync and unmount come after it.
 */
export const QUIESCE_SLACK_SECONDS = 30;

/** Epoch ms at which the invocation ends, from Lambda's context; undefined without one. */
export function invocationDeadline(
  now: number,
  context?: { getRemainingTimeInMillis?: () => number },
): number | undefined {
  return typeof context?.getRemainingTimeInMillis === 'function'
    ? now + context.getRemainingTimeInMillis()
    : undefined;
}

/**
 * Epoch ms at which a scheduled reconcile run must have ended: the next tick of its schedule
 * (`time` of the Scheduled Event plus the interval), so that runs never overlap; a run started
 * without a parseable `time` counts from its start.
 */
export function reconcileWindowEnd(event: unknown, now: number, intervalMinutes: number): number {
  const time =
    typeof event === 'object' && event !== null ? (event as Record<string, unknown>)['time'] : undefined;
  const tick = typeof time === 'string' ? Date.parse(time) : Number.NaN;
  const start = Number.isFinite(tick) && tick <= now ? tick : now;
  return start + intervalMinutes * 60_000;
}
