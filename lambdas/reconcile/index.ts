/** The reconcile handler (schedule) → reconcile. */
import type { Context } from 'aws-lambda';
import { reconcileIntervalMinutes } from '../shared/alarm-names';
import { HANDOVER_SECONDS, invocationDeadline, reconcileWindowEnd } from '../shared/deadlines';
import { endingBefore } from '../shared/poll';
import { beginInvocation, createLogger, runtimeDeps } from '../shared/runtime';
import { reconcile, type ReconcileReport } from './core';

const logger = createLogger('reconcile');

export async function handler(event: unknown, context?: Partial<Context>): Promise<ReconcileReport> {
  beginInvocation(logger, context);
  const deps = runtimeDeps(logger);
  logger.appendKeys({ group: deps.settings.groupName });
  // Runs never overlap: each ends its work before the next tick of the schedule is due (or its
  // own Lambda deadline, if sooner), and leaves the rest to that run, which starts from a fresh
  // listing. Reserved concurrency 1 would also serialize them, but a tick throttled behind a long
  // run goes to the dead-letter queue once older than its age bound, and raises its alarm.
  const now = deps.clock.now();
  const lambdaEnd = invocationDeadline(now, context);
  const windowEnd = reconcileWindowEnd(event, now, reconcileIntervalMinutes());
  const end = Math.min(lambdaEnd ?? Number.POSITIVE_INFINITY, windowEnd);
  return reconcile(endingBefore(deps, end, HANDOVER_SECONDS.reconcile * 1000));
}
