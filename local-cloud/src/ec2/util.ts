/** Small functions of the EC2 model. */
import { fail } from '../errors';

export function required<T>(value: T | undefined, name: string): T {
  if (value === undefined || value === null || value === '') {
    throw fail('MissingParameter', `The request must contain the parameter ${name}`);
  }
  return value;
}

export function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

export function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

export function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) return NaN;
  let n = 0;
  for (const part of parts) {
    const v = Number(part);
    if (!/^\d{1,3}$/.test(part) || v > 255) return NaN;
    n = n * 256 + v;
  }
  return n;
}

export function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

export function regionShort(region: string): string {
  // eu-west-1 → euw1 (zone ids look like euw1-az1)
  const [geo, direction, number] = region.split('-');
  return `${geo ?? 'xx'}${(direction ?? 'x').charAt(0)}${number ?? '1'}`;
}

/** Freezes a view and everything in it (views are shared between readers). */
export function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
