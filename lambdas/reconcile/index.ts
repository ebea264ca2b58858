/** The reconcile handler (schedule) → reconcile. */
import { createLogger, runtimeDeps } from '../shared/runtime';
import { reconcile, type ReconcileReport } from './core';

const logger = createLogger('reconcile');

export async function handler(_event: unknown): Promise<ReconcileReport> {
  logger.resetKeys();
  const deps = runtimeDeps(logger);
  logger.appendKeys({ group: deps.settings.groupName });
  return reconcile(deps);
}
