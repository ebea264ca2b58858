/**
 * A tiny EventBridge pattern matcher for the subset berth's rules use: arrays of exact values,
 * `{ prefix }`, and nested objects. An event field that is an array matches when any element does.
 * Unknown operators fail loudly, so a rule that starts using one cannot pass by accident.
 */
export function matches(pattern: object, event: object): boolean {
  return Object.entries(pattern).every(([key, rule]) =>
    matchField(rule, (event as Record<string, unknown>)[key]),
  );
}

function matchField(rule: unknown, value: unknown): boolean {
  if (Array.isArray(rule)) {
    const values = Array.isArray(value) ? value : [value];
    return values.some((v) => rule.some((r) => matchValue(r, v)));
  }
  if (rule !== null && typeof rule === 'object') {
    if (value === null || typeof value !== 'object') return false;
    return matches(rule as Record<string, unknown>, value as Record<string, unknown>);
  }
  throw new Error(`unsupported pattern rule ${JSON.stringify(rule)}`);
}

function matchValue(rule: unknown, value: unknown): boolean {
  if (typeof rule === 'string' || typeof rule === 'number' || typeof rule === 'boolean')
    return rule === value;
  if (rule !== null && typeof rule === 'object') {
    const keys = Object.keys(rule);
    if (keys.length === 1 && keys[0] === 'prefix') {
      return typeof value === 'string' && value.startsWith((rule as { prefix: string }).prefix);
    }
  }
  throw new Error(`unsupported pattern value ${JSON.stringify(rule)}`);
}
