import type { Filter } from '@aws-sdk/client-ec2';
import { fail } from './errors';

/**
 * The EC2 `Filters` engine of the local cloud, as documented in "Filter your Amazon EC2 resources"
 * (https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/Filtering.html) and on every Describe* page:
 * - several filters are ANDed; several values of one filter are ORed;
 * - values are case-sensitive and may use wildcards: `*` matches zero or more characters, `?` zero
 *   or one character; a backslash escapes them;
 * - `tag:<key>` matches the value of tag `<key>`, `tag-key` any key, `tag-value` any value;
 * - a filter name the operation does not know is an error (`InvalidParameterValue`, "The filter 'x'
 *   is invalid"), so a typo in a caller's filter fails here as it would in AWS.
 * Filters are compiled once per call into one predicate, so a Describe* costs O(resources × filters).
 */

/** A scalar a filter compares with (numbers and booleans compare as their string form). */
export type FilterScalar = string | number | boolean | undefined;

/** Reads the field a filter name stands for; a list matches when any element matches. */
export type FilterField<T> = (item: T) => FilterScalar | readonly FilterScalar[];

export interface FilterSpec<T> {
  /** Operation name, for messages. */
  operation: string;
  /** Filter name → field. */
  fields: Readonly<Record<string, FilterField<T>>>;
  /** Tags of the item, for `tag:K`, `tag-key` and `tag-value`; absent: the resource has no tag filters. */
  tags?: (item: T) => ReadonlyMap<string, string>;
}

type Matcher = (value: string) => boolean;

/** One value test: exact values go through a Set, wildcard values through one RegExp each. */
function valueMatcher(values: readonly string[]): Matcher {
  const exact = new Set<string>();
  const patterns: RegExp[] = [];
  for (const value of values) {
    if (/[*?]/.test(value)) patterns.push(wildcard(value));
    else exact.add(value.replace(/\\(.)/g, '$1'));
  }
  if (patterns.length === 0) return (v) => exact.has(v);
  return (v) => exact.has(v) || patterns.some((p) => p.test(v));
}

function wildcard(value: string): RegExp {
  let source = '';
  for (let i = 0; i < value.length; i++) {
    const c = value.charAt(i);
    if (c === '\\' && i + 1 < value.length) {
      source += escapeRegExp(value.charAt(++i));
    } else if (c === '*') {
      source += '.*';
    } else if (c === '?') {
      source += '.?';
    } else {
      source += escapeRegExp(c);
    }
  }
  return new RegExp(`^${source}$`, 's');
}

function escapeRegExp(c: string): string {
  return c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function scalarMatches(match: Matcher, value: FilterScalar | readonly FilterScalar[]): boolean {
  if (Array.isArray(value)) {
    return (value as readonly FilterScalar[]).some((v) => v !== undefined && match(String(v)));
  }
  return value !== undefined && match(String(value as FilterScalar));
}

/**
 * Compiles `Filters` into one predicate. Throws AWS's errors for a filter without a name or values
 * and for a name the operation does not support.
 */
export function compileFilters<T>(
  filters: readonly Filter[] | undefined,
  spec: FilterSpec<T>,
): (item: T) => boolean {
  if (!filters || filters.length === 0) return () => true;
  const tests: ((item: T) => boolean)[] = [];
  for (const filter of filters) {
    const name = filter.Name;
    if (name === undefined || name === '') {
      throw fail('MissingParameter', 'The request must contain the parameter Filter.Name');
    }
    const values = filter.Values ?? [];
    if (values.length === 0) {
      // AWS answers a filter with no value as a bad value of that filter.
      throw fail('InvalidParameterValue', `The filter '${name}' must have at least one value`);
    }
    const match = valueMatcher(values);
    const tags = spec.tags;
    if (name.startsWith('tag:') && tags) {
      const key = name.slice(4);
      tests.push((item) => {
        const value = tags(item).get(key);
        return value !== undefined && match(value);
      });
    } else if (name === 'tag-key' && tags) {
      tests.push((item) => {
        for (const key of tags(item).keys()) if (match(key)) return true;
        return false;
      });
    } else if (name === 'tag-value' && tags) {
      tests.push((item) => {
        for (const value of tags(item).values()) if (match(value)) return true;
        return false;
      });
    } else {
      const field = spec.fields[name];
      if (!field) throw fail('InvalidParameterValue', `The filter '${name}' is invalid`);
      tests.push((item) => scalarMatches(match, field(item)));
    }
  }
  if (tests.length === 1) return tests[0] ?? (() => true);
  return (item) => {
    for (const test of tests) if (!test(item)) return false;
    return true;
  };
}
