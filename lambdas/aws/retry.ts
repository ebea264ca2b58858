/**
 * The one retry policy of berth's AWS calls: the SDK's standard strategy (exponential backoff with
 * jitter, throttling told apart from transient errors, a retry quota), with a per-operation rule
 * where an operation cannot be sent twice safely. Errors are classified by the SDK's own rules
 * (`@smithy/core/retry`), from the error's metadata: its code, `$retryable` trait, HTTP status.
 *
 * Not the adaptive mode: its client-side rate limiter sleeps on wall-clock timers after the first
 * throttle, which the local cloud's retry-delay hook cannot replace, so fault campaigns would run
 * in real time. The strategy is given to each client, so AWS_RETRY_MODE does not change it.
 */
import type { RetryErrorInfo, StandardRetryToken } from '@smithy/types';
import { isThrottlingError, isTransientError, StandardRetryStrategy } from '@smithy/core/retry';

/**
 * Attempts per call (1 + 7 retries). Fault campaigns throttle 20-30 % of calls: 0.3^8 ≈ 7e-5 of
 * calls still fail after all attempts, and the flows treat that as a retryable step failure.
 */
export const MAX_ATTEMPTS = 8;

/** What the SDK may send again after a failure of the operation. */
export type RetryRule = 'standard' | 'throttling-only';

/**
 * Operations whose rule is not the standard one. SendCommand is sent again only after throttling,
 * which refuses the request before it is processed: a server error or a timeout may come after
 * the command went out, and a second SendCommand would run the document twice at once; the caller
 * looks the command up instead. `IncorrectState` is never retried here (a client error to the SDK):
 * the callers poll the state.
 */
export const RETRY_RULES: Readonly<Record<string, RetryRule>> = {
  SendCommand: 'throttling-only',
};

/** The operation a failed attempt belongs to, stamped on the error inside the retry loop. */
const OPERATION = Symbol('berth.operation');

export function operationOf(error: unknown): string | undefined {
  if (error && typeof error === 'object' && OPERATION in error) {
    const name = (error as { [OPERATION]: unknown })[OPERATION];
    return typeof name === 'string' ? name : undefined;
  }
  return undefined;
}

/** The SDK's standard strategy, refusing a retry that the operation's rule forbids. */
export class BerthRetryStrategy extends StandardRetryStrategy {
  constructor(maxAttempts: number = MAX_ATTEMPTS) {
    super(maxAttempts);
  }

  override async refreshRetryTokenForRetry(
    token: StandardRetryToken,
    errorInfo: RetryErrorInfo,
  ): Promise<StandardRetryToken> {
    const rule = RETRY_RULES[operationOf(errorInfo.error) ?? ''] ?? 'standard';
    if (rule === 'throttling-only' && errorInfo.errorType !== 'THROTTLING')
      throw new Error(`No retry for ${operationOf(errorInfo.error)} after ${errorInfo.errorType}`);
    return super.refreshRetryTokenForRetry(token, errorInfo);
  }
}

/** What the retry middleware's context tells of the call: the operation's name. */
interface CallContext {
  commandName?: string;
  __smithy_context?: { operation?: string };
}

interface StackClient {
  middlewareStack: {
    add(
      middleware: (
        next: (args: unknown) => Promise<unknown>,
        context: CallContext,
      ) => (args: unknown) => Promise<unknown>,
      options: { step: 'finalizeRequest'; priority: 'low'; name: string; override: boolean },
    ): void;
  };
}

/** The API operation's name (`SendCommand`), not the command class's (`SendCommandCommand`). */
function operationName(context: CallContext): string | undefined {
  return context.__smithy_context?.operation ?? context.commandName?.replace(/Command$/, '');
}

/**
 * Stamps each failed attempt with its operation's name, inside the retry middleware (same step,
 * lower priority), so the strategy can apply the operation's rule.
 */
export function withOperationNames<C>(client: C): C {
  (client as unknown as StackClient).middlewareStack.add(
    (next, context) => async (args) => {
      try {
        return await next(args);
      } catch (error) {
        const operation = operationName(context);
        if (error && typeof error === 'object' && operation !== undefined)
          Object.defineProperty(error, OPERATION, { value: operation, configurable: true });
        throw error;
      }
    },
    { step: 'finalizeRequest', priority: 'low', name: 'berthOperationName', override: true },
  );
  return client;
}

/** Throttling, by the SDK's rule: refused before it was processed. */
export function isSdkThrottling(error: unknown): boolean {
  return error !== null && typeof error === 'object' && isThrottlingError(error as never);
}

/**
 * Transient or server-side, by the SDK's rules (5xx, timeouts, socket errors, `$retryable`): the
 * same call may succeed later.
 */
export function isSdkTransient(error: unknown): boolean {
  if (error === null || typeof error !== 'object') return false;
  if (isTransientError(error as never)) return true;
  const meta = error as { $fault?: unknown; $metadata?: { httpStatusCode?: number } };
  const status = meta.$metadata?.httpStatusCode ?? 0;
  return meta.$fault === 'server' || (status >= 500 && status <= 599);
}
