/**
 * A small evaluator of identity-based policies: exactly the parts of the IAM policy language
 * berth's policies use, each rule as the IAM User Guide states it ("Policy evaluation logic",
 * "IAM JSON policy elements: Condition operators", "Multivalued context keys"). Anything else
 * (an operator, an element) throws, so an unsupported policy is never judged by guesswork.
 *
 * Why not @cloud-copilot/iam-simulate: it is AGPL-3.0, and asked about a wildcard request resource
 * (`alarm:*`) it answers "allowed" when any statement merely overlaps it. A list call with no name
 * is authorized only by a statement whose Resource covers every resource the call could return, so
 * this evaluator judges a request resource that holds `*` strictly: the statement's pattern must
 * match the request's text with the request's `*` read as a literal character that only a
 * pattern `*` can stand for (see `covers`).
 *
 * What it cannot judge (nor can the local cloud): service control policies, permission boundaries,
 * session policies, resource-based policies and KMS key policies.
 */

export interface PolicyStatement {
  Sid?: string;
  Effect: 'Allow' | 'Deny';
  Action?: string | string[];
  NotAction?: string | string[];
  Resource?: string | string[];
  NotResource?: string | string[];
  Condition?: Record<string, Record<string, string | string[] | boolean>>;
  Principal?: unknown;
}

/** Values of the request context: single-valued keys are strings, multivalued ones arrays. */
export type ContextValue = string | string[];
export type RequestContext = Record<string, ContextValue | undefined>;

/** One resource the request touches, with the context keys that belong to it (its tags). */
export interface RequestResource {
  arn: string;
  context?: RequestContext;
}

/** One action the request is authorized for (an API call may need several: CreateVolume + CreateTags). */
export interface AuthorizationRequest {
  /** `service:Action` as the Service Authorization Reference names it. */
  action: string;
  /** `*` for actions without resource types. */
  resources: RequestResource[];
  /** Keys that belong to the request as a whole (aws:RequestTag/*, aws:TagKeys, ec2:CreateAction, …). */
  context?: RequestContext;
}

export interface Decision {
  allowed: boolean;
  /** The first resource no Allow statement covers (or one a Deny covers). */
  deniedResource?: string;
  /** `explicit` when a Deny matched, `implicit` when no Allow did. */
  reason?: 'explicit' | 'implicit';
  /** The Allow statements (their index in the policy) that let each resource through. */
  matched: number[];
}

const list = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function globRegex(pattern: string, caseInsensitive: boolean): RegExp {
  const body = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${body}$`, caseInsensitive ? 'is' : 's');
}

/**
 * Whether a statement's Resource pattern covers a request resource. A request resource without `*`
 * names one resource: ordinary wildcard matching. One with `*` (`alarm:*`: "every alarm") stands
 * for every resource it could match, so the pattern must cover all of them: its `*` may match
 * anything, including the request's `*`, but its `?` and literal characters may not match a `*`.
 */
export function covers(pattern: string, resource: string): boolean {
  if (!resource.includes('*')) return globRegex(pattern, false).test(resource);
  // Tokenize the pattern; walk with memoized recursion.
  const memo = new Map<string, boolean>();
  const walk = (p: number, r: number): boolean => {
    const key = `${p},${r}`;
    const known = memo.get(key);
    if (known !== undefined) return known;
    let result: boolean;
    if (p === pattern.length) result = r === resource.length;
    else if (pattern[p] === '*') result = walk(p + 1, r) || (r < resource.length && walk(p, r + 1));
    else if (r === resource.length || resource[r] === '*') result = false;
    else if (pattern[p] === '?' || pattern[p] === resource[r]) result = walk(p + 1, r + 1);
    else result = false;
    memo.set(key, result);
    return result;
  };
  return walk(0, 0);
}

function actionMatches(patterns: string[], action: string): boolean {
  return patterns.some((p) => globRegex(p, true).test(action));
}

function lookup(context: RequestContext, key: string): ContextValue | undefined {
  const lower = key.toLowerCase();
  for (const [k, v] of Object.entries(context)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

type Compare = (actual: string, expected: string) => boolean;
const COMPARE: Record<string, Compare> = {
  StringEquals: (a, e) => a === e,
  StringNotEquals: (a, e) => a === e,
  StringEqualsIgnoreCase: (a, e) => a.toLowerCase() === e.toLowerCase(),
  StringLike: (a, e) => globRegex(e, false).test(a),
  StringNotLike: (a, e) => globRegex(e, false).test(a),
  ArnEquals: (a, e) => a === e,
  ArnLike: (a, e) => globRegex(e, false).test(a),
  ArnNotLike: (a, e) => globRegex(e, false).test(a),
  Bool: (a, e) => a.toLowerCase() === e.toLowerCase(),
};
/** Negated operators: a key missing from the request makes them true (IAM User Guide, Condition operators). */
const NEGATED = new Set(['StringNotEquals', 'StringNotLike', 'ArnNotLike']);

/** One condition operator applied to one key. */
function conditionHolds(operator: string, key: string, expected: string[], context: RequestContext): boolean {
  const value = lookup(context, key);
  if (operator === 'Null') {
    // "Null": "true" means the key is absent; "false" that it is present (and not empty).
    const absent = value === undefined || (Array.isArray(value) && value.length === 0);
    return expected.some((e) => (e === 'true') === absent);
  }
  let op = operator;
  let set: 'ForAllValues' | 'ForAnyValue' | undefined;
  const qualifier = /^(ForAllValues|ForAnyValue):(.+)$/.exec(op);
  if (qualifier) {
    set = qualifier[1] as 'ForAllValues' | 'ForAnyValue';
    op = qualifier[2] as string;
  }
  let ifExists = false;
  if (op.endsWith('IfExists')) {
    ifExists = true;
    op = op.slice(0, -'IfExists'.length);
  }
  const compare = COMPARE[op];
  if (!compare)
    throw new Error(`the local cloud's IAM evaluator does not know the condition operator ${operator}`);
  const negated = NEGATED.has(op);
  if (value === undefined) {
    // ForAllValues over a missing key is true; ForAnyValue false; IfExists true; negated true.
    if (set === 'ForAllValues') return true;
    if (set === 'ForAnyValue') return false;
    return ifExists || negated;
  }
  const values = list(value);
  const hit = (v: string) => expected.some((e) => compare(v, e));
  if (set === 'ForAllValues') return values.every((v) => (negated ? !hit(v) : hit(v)));
  if (set === 'ForAnyValue') return values.some((v) => (negated ? !hit(v) : hit(v)));
  if (Array.isArray(value))
    throw new Error(`multivalued key ${key} needs ForAllValues/ForAnyValue (operator ${operator})`);
  return negated ? !hit(value) : hit(value);
}

function conditionsHold(statement: PolicyStatement, context: RequestContext): boolean {
  for (const [operator, keys] of Object.entries(statement.Condition ?? {})) {
    for (const [key, expected] of Object.entries(keys)) {
      if (!conditionHolds(operator, key, list(expected).map(String), context)) return false;
    }
  }
  return true;
}

function statementApplies(
  statement: PolicyStatement,
  action: string,
  resource: RequestResource,
  context: RequestContext,
): boolean {
  if (statement.Principal !== undefined) throw new Error('identity policies have no Principal');
  if (statement.Action !== undefined && !actionMatches(list(statement.Action), action)) return false;
  if (statement.NotAction !== undefined && actionMatches(list(statement.NotAction), action)) return false;
  if (statement.Resource !== undefined && !list(statement.Resource).some((p) => covers(p, resource.arn)))
    return false;
  if (statement.NotResource !== undefined && list(statement.NotResource).some((p) => covers(p, resource.arn)))
    return false;
  return conditionsHold(statement, { ...context, ...(resource.context ?? {}) });
}

/**
 * Evaluates one request against an identity policy: every resource must be allowed by some Allow
 * statement (with that resource's context keys and the request's) and denied by none.
 */
export function evaluate(statements: readonly PolicyStatement[], request: AuthorizationRequest): Decision {
  const matched: number[] = [];
  const context = request.context ?? {};
  for (const resource of request.resources) {
    const applies = (s: PolicyStatement) => statementApplies(s, request.action, resource, context);
    if (statements.some((s) => s.Effect === 'Deny' && applies(s)))
      return { allowed: false, deniedResource: resource.arn, reason: 'explicit', matched };
    const index = statements.findIndex((s) => s.Effect === 'Allow' && applies(s));
    if (index < 0) return { allowed: false, deniedResource: resource.arn, reason: 'implicit', matched };
    if (!matched.includes(index)) matched.push(index);
  }
  return { allowed: true, matched };
}

/** Every Allow statement that lets a resource through (the bench counts a statement as used by these). */
export function allowingStatements(
  statements: readonly PolicyStatement[],
  request: AuthorizationRequest,
): number[] {
  const out = new Set<number>();
  const context = request.context ?? {};
  for (const resource of request.resources) {
    statements.forEach((s, i) => {
      if (s.Effect === 'Allow' && statementApplies(s, request.action, resource, context)) out.add(i);
    });
  }
  return [...out];
}
