/** A group's resource filters, in smilodon's syntax: `Env=dev,Service=etcd,tag-key=Project`. */
export interface ParsedFilter {
  /** EC2 filter name: `tag:Env`, `tag-key`, or any other EC2 filter name passed through. */
  name: string;
  values: string[];
}

export class FilterSyntaxError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FilterSyntaxError';
  }
}

const RESERVED = new Set([
  'availability-zone',
  'attachment.instance-id',
  'attachment.status',
  'status',
  'volume-id',
  'network-interface-id',
  'vpc-id',
  'subnet-id',
  'volume-type',
  'encrypted',
  'size',
  'description',
  'private-ip-address',
  'owner-id',
  'tag-value',
  'attachment.device-index',
]);

/**
 * Parses `K=V,tag-key=K2,availability-zone=eu-west-1a`. `K=V` means tag K has value V; `tag-key=K`
 * means tag K exists; an EC2 filter name (lowercase, with `-` or `.`, see RESERVED) passes through.
 * The same name twice means either value (EC2 ORs the values of one filter).
 */
export function parseFilters(text: string): ParsedFilter[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const byName = new Map<string, string[]>();
  for (const part of trimmed.split(',')) {
    const item = part.trim();
    const eq = item.indexOf('=');
    if (eq <= 0 || eq === item.length - 1) {
      throw new FilterSyntaxError(
        `filter "${item}" is not K=V: write tag filters as Key=Value, tag existence as tag-key=Key, separated by commas`,
      );
    }
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (/[*?]/.test(key)) throw new FilterSyntaxError(`filter key "${key}" may not contain wildcards`);
    const name = key === 'tag-key' || RESERVED.has(key) || key.startsWith('tag:') ? key : `tag:${key}`;
    byName.set(name, [...(byName.get(name) ?? []), value]);
  }
  return [...byName.entries()].map(([name, values]) => ({ name, values }));
}

/** The parsed filters as EC2 `Filters` (the SDK's `Filter` shape, structurally: no SDK import here). */
export function toEc2Filters(filters: readonly ParsedFilter[]): { Name: string; Values: string[] }[] {
  return filters.map((f) => ({ Name: f.name, Values: [...f.values] }));
}

/** Whether a resource's tags satisfy the tag part of the filters (pass-through filters are not checked). */
export function tagsMatch(filters: readonly ParsedFilter[], tags: Readonly<Record<string, string>>): boolean {
  return filters.every((f) => {
    if (f.name === 'tag-key') return f.values.some((k) => k in tags);
    if (f.name.startsWith('tag:')) {
      const value = tags[f.name.slice(4)];
      return value !== undefined && f.values.includes(value);
    }
    return true;
  });
}
