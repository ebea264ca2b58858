/**
 * The four handlers, invoked as their own role. They share their SDK clients (one process, as in
 * tests), so the local cloud learns which function calls from the role each invocation runs as
 * (an AsyncLocalStorage set here), and judges every call against that function's synthesized
 * policy. Tests and the demo invoke handlers through these, never through lambdas/<name> directly.
 */
import { handler as growHandler } from '../../lambdas/grow';
import { handler as launchHandler } from '../../lambdas/launch';
import { handler as reconcileHandler } from '../../lambdas/reconcile';
import { handler as terminateHandler } from '../../lambdas/terminate';
import type { HandlerName } from '../../infra/lambda-bundling';
import { actingAs } from '../../local-cloud/src/authorization';

function asRole<A extends unknown[], R>(role: HandlerName, handler: (...args: A) => Promise<R>) {
  return (...args: A): Promise<R> => actingAs(role, () => handler(...args));
}

export const launch = asRole('launch', launchHandler);
export const terminate = asRole('terminate', terminateHandler);
export const grow = asRole('grow', growHandler);
export const reconcile = asRole('reconcile', reconcileHandler);

/** Runs `work` (core functions on the handlers' clients) as one function's role. */
export function asFunction<T>(role: HandlerName, work: () => Promise<T>): Promise<T> {
  return actingAs(role, work);
}
