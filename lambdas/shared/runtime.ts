import { Logger } from '@aws-lambda-powertools/logger';
import type { Context } from 'aws-lambda';
import { createClients } from '../aws/clients';
import { systemClock, type Clock } from './clock';
import { settingsFromEnv } from './config';
import type { Deps } from './deps';

/**
 * The SDK clients of a Lambda, created once per cold start and shared by its invocations.
 * Tests plug the local cloud under these same instances (`cloud.plugAll(clients)`). Retries are
 * the SDK's (lambdas/aws/clients.ts).
 */
export const clients = createClients();

/** The clock handlers use: the system clock in Lambda; tests swap in a virtual one. */
export const runtime: { clock: Clock } = { clock: systemClock };

/** Sets the clock of `runtimeDeps` (tests: the local cloud's VirtualClock; restore with systemClock). */
export function setClock(clock: Clock): void {
  runtime.clock = clock;
}

/** One Powertools logger per handler. */
export function createLogger(serviceName: string): Logger {
  return new Logger({ serviceName: `berth-${serviceName}` });
}

/**
 * Starts one invocation's log context: the previous invocation's keys go (`resetKeys`), and the
 * Lambda context comes in through Powertools (`addContext`: request id, cold start, function name
 * and version) when the runtime passed one.
 */
export function beginInvocation(logger: Logger, context?: Partial<Context>): void {
  logger.resetKeys();
  if (context?.awsRequestId !== undefined) logger.addContext(context as Context);
}

/** The dependencies of one invocation; settings are validated at the first call (cold start). */
export function runtimeDeps(logger: Logger): Deps {
  return { ...clients, logger, clock: runtime.clock, settings: settingsFromEnv() };
}
