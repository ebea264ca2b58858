/** Input checks and the formats CloudWatch writes (dates, doubles). */
import { fail } from '../errors';

export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined || value === null || value === '') {
    throw validation(
      `1 validation error detected: Value null at '${name}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
}

/** Input validation errors surface as the query protocol's `ValidationError`. */
export function validation(message: string) {
  return fail('ValidationError', message);
}

export function toMs(value: unknown): number {
  // Dates may come from another realm (the transport structuredClones every input).
  if (value && typeof value === 'object' && typeof (value as Date).getTime === 'function')
    return (value as Date).getTime();
  if (typeof value === 'number') return value < 1e12 ? value * 1000 : value;
  if (typeof value === 'string') return Date.parse(value);
  throw validation('Invalid timestamp.');
}

/** CloudWatch's timestamps in events and reason data: `2019-10-02T17:04:40.985+0000`. */
export function awsDate(ms: number): string {
  return new Date(ms).toISOString().replace('Z', '+0000');
}

/** `21/11/26 00:01:00`, as in the reason of a threshold crossing. */
export function shortDate(ms: number): string {
  const d = new Date(ms).toISOString();
  return `${d.slice(8, 10)}/${d.slice(5, 7)}/${d.slice(2, 4)} ${d.slice(11, 19)}`;
}

/** Numbers as Java prints a double (`95.0`, `0.5`). */
export function javaDouble(n: number): string {
  return Number.isInteger(n) ? n.toFixed(1) : String(n);
}
