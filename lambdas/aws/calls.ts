/**
 * How berth makes one AWS call: retried when throttled or transiently failing (on top of the SDK's
 * own retries), on the injected clock; plus the tag-list helper every AWS-layer module uses.
 */
import type { Tag } from '@aws-sdk/client-ec2';
import type { Deps } from '../shared/deps';
import { errorName, isRetryable } from '../shared/errors';

/** Codes worth retrying for any call (throttling, 5xx); `IncorrectState` is left to the caller. */
const STATE_CODES = new Set(['IncorrectState', 'IncorrectInstanceState']);

/** Retryable and not a state error: throttling or a transient server error. */
export function isTransient(error: unknown): boolean {
  return isRetryable(error) && !STATE_CODES.has(errorName(error));
}

/**
 * Runs one AWS call, retrying throttling and transient errors with capped exponential backoff on
 * the injected clock (on top of the SDK's own retries, which give up after 3 attempts).
 */
export async function retrying<T>(
  deps: Pick<Deps, 'clock'>,
  call: () => Promise<T>,
  options: { attempts?: number; retryOn?: (error: unknown) => boolean } = {},
): Promise<T> {
  const attempts = options.attempts ?? 8;
  const retryOn = options.retryOn ?? isTransient;
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= attempts || !retryOn(error)) throw error;
      await deps.clock.sleep(Math.min(5000, 100 * 2 ** attempt));
    }
  }
}

export function tagMap(tags: readonly Tag[] | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const tag of tags ?? []) if (tag.Key !== undefined) out[tag.Key] = tag.Value ?? '';
  return out;
}

/** Thrown when another instance holds the volume or interface: a lost claim race. */
export class ContestedError extends Error {
  constructor(
    message: string,
    readonly holder: string | undefined,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'ContestedError';
  }
}
