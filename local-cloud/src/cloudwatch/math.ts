/** Metric math: the expressions metric math alarms evaluate. */
import type { Dimension, PutMetricAlarmInput } from '@aws-sdk/client-cloudwatch';
import { fail } from '../errors';

// "Metric math syntax and functions" (CloudWatch user guide, using-metric-math.html): arithmetic
// (+ - * /), comparisons (== != < > <= >=, 1 when true, 0 when false), IF(condition, trueValue,
// falseValue) ("returns trueValue where condition is non-zero, else falseValue", point by point)
// and RATE(m) ("the rate of change of the metric per second: the difference between the latest
// datapoint value and the previous datapoint value, divided by the time difference in seconds
// between the two values"). Only these are modelled; any other function is refused at
// PutMetricAlarm, as AWS refuses an expression it cannot parse.
// PutMetricAlarm (API reference): Metrics is "an array of MetricDataQuery structures ... each
// item must either retrieve a metric or perform a math expression"; exactly one returns data
// (ReturnData true), and Namespace, MetricName, Dimensions, Period, Statistic must not be given
// with Metrics.

/** Periods before the alarm's window that an expression may read (RATE's previous value). */
export const MATH_LOOKBACK_PERIODS = 5;

export type MathNode =
  | { kind: 'number'; value: number }
  | { kind: 'id'; name: string }
  | { kind: 'binary'; op: string; left: MathNode; right: MathNode }
  | { kind: 'negate'; operand: MathNode }
  | { kind: 'call'; name: 'RATE' | 'IF'; args: MathNode[] };

export interface Series {
  /** Period start times (seconds). */
  times: number[];
  values: Record<string, (number | undefined)[]>;
}

export const MATH_FUNCTIONS: Record<string, number> = { RATE: 1, IF: 3 };

/** Parses a metric math expression; throws ValidationError naming what it cannot read. */
export function parseMath(text: string, ids: readonly string[]): MathNode {
  const tokens =
    text.match(/\d+(?:\.\d+)?(?:[eE][+-]?\d+)?|[A-Za-z_][A-Za-z0-9_]*|==|!=|<=|>=|[-+*/(),<>]|\S/g) ?? [];
  let at = 0;
  const bad = (why: string) =>
    fail('ValidationError', `Invalid metrics list: the expression "${text}" cannot be parsed: ${why}.`);
  const peek = () => tokens[at];
  const take = (expected?: string) => {
    const t = tokens[at++];
    if (t === undefined || (expected !== undefined && t !== expected))
      throw bad(`expected ${expected ?? 'more'} at token ${at}`);
    return t;
  };
  const comparison = (): MathNode => {
    const left = additive();
    const op = peek();
    if (op && ['==', '!=', '<', '>', '<=', '>='].includes(op)) {
      take();
      return { kind: 'binary', op, left, right: additive() };
    }
    return left;
  };
  const additive = (): MathNode => {
    let node = term();
    while (peek() === '+' || peek() === '-') node = { kind: 'binary', op: take(), left: node, right: term() };
    return node;
  };
  const term = (): MathNode => {
    let node = unary();
    while (peek() === '*' || peek() === '/')
      node = { kind: 'binary', op: take(), left: node, right: unary() };
    return node;
  };
  const unary = (): MathNode => {
    if (peek() === '-') {
      take();
      return { kind: 'negate', operand: unary() };
    }
    return primary();
  };
  const primary = (): MathNode => {
    const t = take();
    if (t === '(') {
      const inner = comparison();
      take(')');
      return inner;
    }
    if (/^\d/.test(t)) return { kind: 'number', value: Number(t) };
    if (/^[A-Za-z_]/.test(t)) {
      if (peek() === '(') {
        const arity = MATH_FUNCTIONS[t];
        if (arity === undefined) throw bad(`the function ${t} is not modelled by the local cloud`);
        take('(');
        const args: MathNode[] = [comparison()];
        while (peek() === ',') {
          take();
          args.push(comparison());
        }
        take(')');
        if (args.length !== arity) throw bad(`${t} takes ${arity} argument${arity > 1 ? 's' : ''}`);
        return { kind: 'call', name: t as 'RATE' | 'IF', args };
      }
      if (!ids.includes(t)) throw bad(`${t} is not the id of a query of this alarm`);
      return { kind: 'id', name: t };
    }
    throw bad(`unexpected "${t}"`);
  };
  const node = comparison();
  if (at !== tokens.length) throw bad(`unexpected "${tokens[at]}"`);
  return node;
}

/** The expression's value for every period of the series (undefined where it has none). */
export function evaluateMath(node: MathNode, series: Series): (number | undefined)[] {
  const n = series.times.length;
  switch (node.kind) {
    case 'number':
      return Array.from({ length: n }, () => node.value);
    case 'id':
      return series.values[node.name] ?? Array.from({ length: n }, () => undefined);
    case 'negate':
      return evaluateMath(node.operand, series).map((v) => (v === undefined ? undefined : -v));
    case 'binary': {
      const left = evaluateMath(node.left, series);
      const right = evaluateMath(node.right, series);
      return left.map((a, i) => {
        const b = right[i];
        if (a === undefined || b === undefined) return undefined;
        switch (node.op) {
          case '+':
            return a + b;
          case '-':
            return a - b;
          case '*':
            return a * b;
          case '/':
            return b === 0 ? undefined : a / b;
          case '==':
            return a === b ? 1 : 0;
          case '!=':
            return a !== b ? 1 : 0;
          case '<':
            return a < b ? 1 : 0;
          case '>':
            return a > b ? 1 : 0;
          case '<=':
            return a <= b ? 1 : 0;
          default:
            return a >= b ? 1 : 0;
        }
      });
    }
    case 'call': {
      const args = node.args.map((a) => evaluateMath(a, series));
      if (node.name === 'IF') {
        const [condition = [], whenTrue = [], whenFalse = []] = args;
        return condition.map((c, i) => (c === undefined ? undefined : c !== 0 ? whenTrue[i] : whenFalse[i]));
      }
      // RATE: against the previous period that has a value.
      const values = args[0] ?? [];
      return values.map((v, i) => {
        if (v === undefined) return undefined;
        for (let j = i - 1; j >= 0; j--) {
          const before = values[j];
          const dt = (series.times[i] ?? 0) - (series.times[j] ?? 0);
          if (before !== undefined && dt > 0) return (v - before) / dt;
        }
        return undefined;
      });
    }
  }
}

/** Checks a metric math alarm's queries (one MetricStat, one expression returning data). */
export function mathAlarm(input: PutMetricAlarmInput): {
  namespace: string;
  metricName: string;
  dimensions: Dimension[];
  statistic: string;
  period: number;
  statId: string;
  expression: MathNode;
} {
  for (const field of [
    'Namespace',
    'MetricName',
    'Dimensions',
    'Period',
    'Statistic',
    'ExtendedStatistic',
  ] as const) {
    if (input[field] !== undefined)
      throw fail(
        'InvalidParameterCombinationException',
        `The parameters ${field} and Metrics are mutually exclusive; give the metric inside Metrics.`,
      );
  }
  const queries = input.Metrics ?? [];
  const returning = queries.filter((q) => q.ReturnData !== false);
  if (returning.length !== 1)
    throw fail(
      'ValidationError',
      'Invalid metrics list: exactly one element must have ReturnData set to true.',
    );
  const stats = queries.filter((q) => q.MetricStat);
  const expressions = queries.filter((q) => q.Expression);
  if (stats.length !== 1 || expressions.length !== 1 || queries.length !== 2)
    throw fail(
      'ValidationError',
      'Invalid metrics list: the local cloud models one MetricStat and one Expression per alarm.',
    );
  const stat = stats[0]?.MetricStat;
  const expression = expressions[0];
  if (
    !stat?.Metric?.Namespace ||
    !stat.Metric.MetricName ||
    stat.Period === undefined ||
    !stat.Stat ||
    !expression
  )
    throw fail(
      'ValidationError',
      'Invalid metrics list: a MetricStat needs Metric (Namespace, MetricName), Period and Stat.',
    );
  if (expression.ReturnData === false)
    throw fail(
      'ValidationError',
      'Invalid metrics list: the expression must be the element that returns data.',
    );
  const statId = stats[0]?.Id ?? '';
  return {
    namespace: stat.Metric.Namespace,
    metricName: stat.Metric.MetricName,
    dimensions: stat.Metric.Dimensions ?? [],
    statistic: stat.Stat,
    period: stat.Period,
    statId,
    expression: parseMath(expression.Expression ?? '', [statId]),
  };
}
