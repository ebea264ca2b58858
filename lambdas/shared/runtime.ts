import { Logger } from '@aws-lambda-powertools/logger';
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

/** The dependencies of one invocation; settings are validated at the first call (cold start). */
export function runtimeDeps(logger: Logger): Deps {
  return { ...clients, logger, clock: runtime.clock, settings: settingsFromEnv() };
}
