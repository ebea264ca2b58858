/**
 * AWS error codes turned into berth's own errors in one place: retryable (throttling, an instance
 * still booting) versus final (bad data, a zone mismatch), with the original error as `cause`.
 */
import { isSdkThrottling, isSdkTransient } from '../aws/retry';

/**
 * State codes that mean "not yet" (an instance still booting, an attachment still settling): the
 * SDK takes them for client errors and does not retry them; the caller's poll or a retried step
 * does. Everything else is classified by the SDK's own rules (lambdas/aws/retry.ts).
 */
const NOT_YET = new Set(['IncorrectState', 'IncorrectInstanceState']);

/** Codes that mean another actor holds the resource (a lost claim race). */
const CONTESTED = new Set(['VolumeInUse', 'InvalidNetworkInterface.InUse']);

/** Codes that mean the resource is gone. */
const NOT_FOUND = new Set([
  'InvalidVolume.NotFound',
  'InvalidInstanceID.NotFound',
  'InvalidNetworkInterfaceID.NotFound',
  'InvalidAttachmentID.NotFound',
  'InvalidAttachment.NotFound',
  'InvocationDoesNotExist',
]);

export function errorName(error: unknown): string {
  if (error && typeof error === 'object' && 'name' in error && typeof error.name === 'string')
    return error.name;
  return 'Error';
}

export function errorMessage(error: unknown): string {
  if (error instanceof Error) return error.message;
  return String(error);
}

/** The same call or step can succeed later: throttling, a transient or server error, "not yet". */
export function isRetryable(error: unknown): boolean {
  return isTransient(error) || NOT_YET.has(errorName(error)) || error instanceof RetryableError;
}

/**
 * Throttling: the request was refused before it was processed, so sending it again cannot do its
 * effect twice (unlike a server error, which may come after the effect).
 */
export function isThrottling(error: unknown): boolean {
  return isSdkThrottling(error);
}

/** Throttling or a transient server error (not a state error): what the SDK itself retries. */
export function isTransient(error: unknown): boolean {
  return isSdkThrottling(error) || isSdkTransient(error);
}

export function isContested(error: unknown): boolean {
  return CONTESTED.has(errorName(error));
}

export function isNotFound(error: unknown): boolean {
  return NOT_FOUND.has(errorName(error));
}

/** A condition that may clear by itself: the step can be retried (by the caller or by EventBridge). */
export class RetryableError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RetryableError';
  }
}

/** A condition that will not clear by retrying: bad data, a refused parameter, a failed host step. */
export class FinalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FinalError';
  }
}

/** A waited-for state did not arrive in time. */
export class TimeoutError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TimeoutError';
  }
}

/**
 * The invocation's deadline came before the waited-for state: the step is left as it is for a
 * retried invocation (which resumes it), never undone in a hurry.
 */
export class DeadlineError extends TimeoutError {
  constructor(message: string) {
    super(message);
    this.name = 'DeadlineError';
  }
}

/** Another caller took the device name this run asked for on the instance: pick another one. */
export class DeviceInUseError extends FinalError {
  constructor(
    message: string,
    readonly device: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'DeviceInUseError';
  }
}

/**
 * AttachVolume named a device the instance already uses: EC2 answers `InvalidParameterValue`
 * "Invalid value '/dev/sdh' for unixDevice. Attachment point /dev/sdh is already in use" (EC2 API
 * reference, "Error codes for the Amazon EC2 API": InvalidParameterValue).
 */
export function isDeviceInUse(error: unknown): boolean {
  return (
    errorName(error) === 'InvalidParameterValue' &&
    /attachment point .* is already in use/i.test(errorMessage(error))
  );
}

/** Wraps an AWS error as berth's own, keeping the original as `cause`. */
export function classify(error: unknown, what: string): Error {
  if (error instanceof RetryableError || error instanceof FinalError || error instanceof TimeoutError)
    return error;
  const message = `${what}: ${errorName(error)}: ${errorMessage(error)}`;
  return isRetryable(error)
    ? new RetryableError(message, { cause: error })
    : new FinalError(message, { cause: error });
}

/** The error as a small log object (never the whole exception with its $metadata and request). */
export function describeError(error: unknown): { name: string; message: string } {
  return { name: errorName(error), message: errorMessage(error) };
}
