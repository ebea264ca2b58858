/**
 * The one wait of berth: look until a state arrives, backing off between looks, bounded by the
 * step's own timeout and by the invocation's deadline (`deps.deadline`). Every waiting loop of the
 * lifecycle paths goes through here, so that no wait can outlive the Lambda invocation.
 */
import type { Deps } from './deps';
import { DeadlineError, TimeoutError } from './errors';

export interface PollOptions {
  /** What is waited for, for the error ("vol-1 attached to i-1"). */
  what: string;
  /** The step's own bound, in seconds. */
  timeoutSeconds: number;
  /** Delay before the second look (the first is immediate unless `firstDelayMs` is set). */
  intervalMs: number;
  /** Backoff cap: each delay doubles up to this. @default intervalMs (no backoff) */
  maxIntervalMs?: number;
  /** Delay before the first look (a state known to take a while). @default 0 */
  firstDelayMs?: number;
  /** Describes the last state seen, for the timeout message. */
  describe?: () => string;
}

/** Epoch ms by which a step of `timeoutSeconds` must end: its own bound or the invocation's deadline. */
export function stepEnd(deps: Pick<Deps, 'clock' | 'deadline'>, timeoutSeconds: number): number {
  return Math.min(deps.clock.now() + timeoutSeconds * 1000, deps.deadline ?? Number.POSITIVE_INFINITY);
}

/** Time kept back from the invocation's end for the last calls once an undo is done. */
export const LAST_CALLS_MS = 10_000;

/**
 * The same dependencies with their waits ending `marginMs` before `end`, and what ends a cut step
 * (an undo) LAST_CALLS_MS before it (unchanged without `end`).
 */
export function endingBefore<D extends Pick<Deps, 'deadline' | 'finishBy'>>(
  deps: D,
  end: number | undefined,
  marginMs: number,
): D {
  return end === undefined
    ? deps
    : { ...deps, deadline: end - marginMs, finishBy: end - Math.min(marginMs, LAST_CALLS_MS) };
}

/** The dependencies an undo runs with: bounded by `finishBy` rather than `deadline`, when set. */
export function finishing<D extends Pick<Deps, 'deadline' | 'finishBy'>>(deps: D): D {
  return deps.finishBy === undefined ? deps : { ...deps, deadline: deps.finishBy };
}

/** Milliseconds left before the invocation's deadline (Infinity without one). */
export function timeLeft(deps: Pick<Deps, 'clock' | 'deadline'>): number {
  return (deps.deadline ?? Number.POSITIVE_INFINITY) - deps.clock.now();
}

/**
 * Calls `look` until it returns a value other than `undefined`, then returns that value. Throws
 * DeadlineError when the invocation's deadline ends the wait, TimeoutError when the step's own
 * bound does. Never sleeps past either bound.
 */
export async function poll<T>(
  deps: Pick<Deps, 'clock' | 'deadline'>,
  look: () => Promise<T | undefined>,
  options: PollOptions,
): Promise<T> {
  const own = deps.clock.now() + options.timeoutSeconds * 1000;
  const deadline = deps.deadline ?? Number.POSITIVE_INFINITY;
  const end = Math.min(own, deadline);
  let delay = options.intervalMs;
  if (options.firstDelayMs)
    await deps.clock.sleep(Math.max(0, Math.min(options.firstDelayMs, end - deps.clock.now())));
  for (;;) {
    const value = await look();
    if (value !== undefined) return value;
    const now = deps.clock.now();
    if (now >= end) {
      const seen = options.describe ? ` (last seen: ${options.describe()})` : '';
      if (deadline <= own) {
        throw new DeadlineError(`${options.what}: not reached before the invocation's deadline${seen}`);
      }
      throw new TimeoutError(`${options.what}: not reached in ${options.timeoutSeconds} s${seen}`);
    }
    await deps.clock.sleep(Math.min(delay, end - now));
    delay = Math.min(options.maxIntervalMs ?? options.intervalMs, delay * 2);
  }
}

/**
 * Waits until one resource (a volume, an interface) reaches a state: `read` it until `predicate`
 * holds, within timeouts.attachSeconds and the deadline; `describe` says where it stood for the
 * timeout error. Returns the resource as last read.
 */
export async function waitForResource<R>(
  deps: Pick<Deps, 'clock' | 'deadline' | 'settings'>,
  what: string,
  read: () => Promise<R | undefined>,
  predicate: (resource: R | undefined) => boolean,
  describe: (resource: R | undefined) => string,
): Promise<R | undefined> {
  let last: R | undefined;
  const found = await poll(
    deps,
    async () => {
      last = await read();
      return predicate(last) ? { resource: last } : undefined;
    },
    {
      what,
      timeoutSeconds: deps.settings.timeouts.attachSeconds,
      intervalMs: 500,
      maxIntervalMs: 5000,
      describe: () => describe(last),
    },
  );
  return found.resource;
}

/**
 * How long EC2 may answer NotFound for a resource it just created or reported (EC2 API reference,
 * "Eventual consistency": "If you try to use a resource right after you create it, you might get
 * an error"; AWS gives no bound, seconds in practice).
 */
export const CONSISTENCY_SECONDS = 30;

/**
 * Reads a resource that EC2 just created or reported: an absent answer (NotFound) is read again
 * with backoff for up to CONSISTENCY_SECONDS, within the deadline, before it is believed.
 * Returns `undefined` only once the window has passed; throws DeadlineError at the deadline.
 */
export async function readWhenVisible<R>(
  deps: Pick<Deps, 'clock' | 'deadline'>,
  what: string,
  read: () => Promise<R | undefined>,
): Promise<R | undefined> {
  try {
    return await poll(deps, read, {
      what: `${what} visible`,
      timeoutSeconds: CONSISTENCY_SECONDS,
      intervalMs: 500,
      maxIntervalMs: 4000,
    });
  } catch (error) {
    if (error instanceof TimeoutError && !(error instanceof DeadlineError)) return undefined;
    throw error;
  }
}
