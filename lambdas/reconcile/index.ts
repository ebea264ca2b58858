/** The reconcile handler (schedule) → reconcile. */
import type { Context } from 'aws-lambda';
import { beginInvocation, createLogger, runtimeDeps } from '../shared/runtime';
import { reconcile, type ReconcileReport } from './core';

const logger = createLogger('reconcile');

export async function handler(_event: unknown, context?: Partial<Context>): Promise<ReconcileReport> {
  beginInvocation(logger, context);
  const deps = runtimeDeps(logger);
  logger.appendKeys({ group: deps.settings.groupName });
  return reconcile(deps);
}
