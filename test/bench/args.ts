/**
 * The command line of every benchmark, on `node:util` parseArgs: strict (an unknown option, a
 * positional argument or a missing value is an error), typed options with their defaults and
 * bounds, one-line errors that name the option, the value and the fix, and `--help` listing the
 * options. A benchmark declares its options once:
 *
 *   const options = benchArgs(args, {
 *     bench: 'reconcile',
 *     summary: 'one reconcile run over N healthy sets, then over N sets with faults',
 *     options: { sets: { type: 'ints', default: [10, 100, 1000], min: 1, description: 'set counts' } },
 *   });
 *   if (!options) return; // --help was printed
 *   options.sets; // number[]
 *
 * Option names are the flags without their dashes (`'first-gib'` is `--first-gib`).
 */
import { parseArgs } from 'node:util';

interface Described {
  /** One line for `--help`. */
  readonly description: string;
}
interface Bounds {
  /** Inclusive bounds. */
  readonly min?: number;
  readonly max?: number;
  /** Exclusive bounds (`above: 0`: strictly positive). */
  readonly above?: number;
  readonly below?: number;
}

/** A boolean switch, false unless given. */
export interface FlagOption extends Described {
  readonly type: 'flag';
}
/** A whole number (`int`) or any finite number (`number`). */
export interface NumberOption extends Described, Bounds {
  readonly type: 'int' | 'number';
  readonly default?: number;
}
/** A comma-separated list of whole numbers (`ints`) or numbers (`numbers`), each within the bounds. */
export interface ListOption extends Described, Bounds {
  readonly type: 'ints' | 'numbers';
  readonly default?: readonly number[];
}
/** One of a few words. */
export interface ChoiceOption<C extends string = string> extends Described {
  readonly type: 'choice';
  readonly choices: readonly C[];
  readonly default?: C;
}
/** Any text. */
export interface StringOption extends Described {
  readonly type: 'string';
  readonly default?: string;
}

export type OptionSpec = FlagOption | NumberOption | ListOption | ChoiceOption | StringOption;

/** The parsed value of one option: undefined only for an option without default that was not given. */
export type OptionValue<S> = S extends FlagOption
  ? boolean
  : S extends ChoiceOption<infer C>
    ? S extends { default: string }
      ? C
      : C | undefined
    : S extends NumberOption
      ? S extends { default: number }
        ? number
        : number | undefined
      : S extends ListOption
        ? S extends { default: readonly number[] }
          ? number[]
          : number[] | undefined
        : S extends { default: string }
          ? string
          : string | undefined;

export type BenchOptions<O extends Record<string, OptionSpec>> = {
  -readonly [K in keyof O]: OptionValue<O[K]>;
};

export interface BenchCommand<O extends Record<string, OptionSpec>> {
  /** The benchmark's name, as given to `npm run bench --`. */
  readonly bench: string;
  /** What one run measures, for `--help`. */
  readonly summary: string;
  readonly options: O;
}

/** A bad command line: the message is the whole story (one line, no stack needed). */
export class BenchArgsError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchArgsError';
  }
}

const PLACEHOLDER: Record<OptionSpec['type'], string> = {
  flag: '',
  int: 'N',
  number: 'X',
  ints: 'N,N,…',
  numbers: 'X,X,…',
  choice: '',
  string: 'TEXT',
};

function placeholder(spec: OptionSpec): string {
  return spec.type === 'choice' ? spec.choices.join('|') : PLACEHOLDER[spec.type];
}

function example(spec: OptionSpec): string {
  if (spec.type === 'flag') return '';
  if (spec.type === 'choice') return spec.choices[0] ?? '';
  if (spec.default !== undefined)
    return Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default);
  return placeholder(spec);
}

function boundsText(spec: Bounds): string {
  const parts = [
    spec.min !== undefined ? `≥ ${spec.min}` : '',
    spec.above !== undefined ? `> ${spec.above}` : '',
    spec.max !== undefined ? `≤ ${spec.max}` : '',
    spec.below !== undefined ? `< ${spec.below}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? ` ${parts.join(' and ')}` : '';
}

function withinBounds(value: number, spec: Bounds): boolean {
  return (
    (spec.min === undefined || value >= spec.min) &&
    (spec.max === undefined || value <= spec.max) &&
    (spec.above === undefined || value > spec.above) &&
    (spec.below === undefined || value < spec.below)
  );
}

/** The `--help` text of a benchmark. */
export function benchUsage(command: BenchCommand<Record<string, OptionSpec>>): string {
  const rows: [string, string][] = Object.entries(command.options).map(([name, spec]) => {
    const flag = `--${name}${spec.type === 'flag' ? '' : ` ${placeholder(spec)}`}`;
    const fallback =
      spec.type === 'flag' || spec.default === undefined
        ? ''
        : ` (default ${Array.isArray(spec.default) ? spec.default.join(',') : String(spec.default)})`;
    return [flag, `${spec.description}${fallback}`];
  });
  rows.push(['--help', 'this list']);
  const width = Math.max(...rows.map(([flag]) => flag.length));
  return [
    `usage: npm run bench -- ${command.bench} [options]`,
    `  ${command.summary}`,
    ...rows.map(([flag, text]) => `  ${flag.padEnd(width)}  ${text}`),
  ].join('\n');
}

/**
 * Parses `args` against the command's options. Returns undefined after printing the usage when
 * `--help` is given; throws a BenchArgsError for anything it cannot take.
 */
export function benchArgs<const O extends Record<string, OptionSpec>>(
  args: readonly string[],
  command: BenchCommand<O>,
): BenchOptions<O> | undefined {
  const { bench, options } = command;
  const help = `npm run bench -- ${bench} --help`;
  const config: Record<string, { type: 'boolean' | 'string'; short?: string }> = {
    help: { type: 'boolean', short: 'h' },
  };
  for (const [name, spec] of Object.entries(options))
    config[name] = { type: spec.type === 'flag' ? 'boolean' : 'string' };
  let values: Record<string, string | boolean | undefined>;
  try {
    ({ values } = parseArgs({ args: [...args], options: config, strict: true, allowPositionals: false }));
  } catch (error) {
    throw new BenchArgsError(`${bench}: ${parseErrorText(error, options)} (${help})`);
  }
  if (values.help) {
    console.log(benchUsage(command));
    return undefined;
  }
  const out: Record<string, unknown> = {};
  for (const [name, spec] of Object.entries(options)) out[name] = valueOf(bench, name, spec, values[name]);
  return out as BenchOptions<O>;
}

function parseErrorText(error: unknown, options: Record<string, OptionSpec>): string {
  const { code, message } = error as { code?: string; message?: string };
  const quoted = /'([^' ]+)/.exec(message ?? '')?.[1] ?? '';
  const known = [...Object.keys(options), 'help'].map((name) => `--${name}`).join(', ');
  switch (code) {
    case 'ERR_PARSE_ARGS_UNKNOWN_OPTION':
      return `unknown option ${quoted}; the options are ${known}`;
    case 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL':
      return `unexpected argument '${quoted}': every value follows its option, e.g. --name value`;
    case 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE': {
      const name = quoted.replace(/^--/, '');
      const spec = options[name];
      if (spec?.type === 'flag') return `${quoted} takes no value: give it alone to turn it on`;
      if (/ambiguous/.test(message ?? ''))
        return `${quoted} needs a value; a value starting with "-" is written ${quoted}=-…`;
      return `${quoted} needs a value, e.g. ${quoted} ${spec ? example(spec) : 'VALUE'}`;
    }
    default:
      return (message ?? String(error)).split('\n')[0] ?? 'cannot parse the arguments';
  }
}

function valueOf(bench: string, name: string, spec: OptionSpec, raw: string | boolean | undefined): unknown {
  if (spec.type === 'flag') return raw === true;
  if (raw === undefined) return Array.isArray(spec.default) ? [...spec.default] : spec.default;
  const text = String(raw);
  const bad = (what: string) =>
    new BenchArgsError(
      `${bench}: --${name} ${JSON.stringify(text)} is not ${what}; give e.g. --${name} ${example(spec)}`,
    );
  switch (spec.type) {
    case 'string':
      return text;
    case 'choice':
      if (!(spec.choices as readonly string[]).includes(text)) throw bad(`one of ${spec.choices.join(', ')}`);
      return text;
    case 'int':
    case 'number': {
      const n = parseNumber(text, spec.type === 'int');
      const what = `${spec.type === 'int' ? 'a whole number' : 'a number'}${boundsText(spec)}`;
      if (n === undefined || !withinBounds(n, spec)) throw bad(what);
      return n;
    }
    case 'ints':
    case 'numbers': {
      const list = text.split(',').map((item) => parseNumber(item, spec.type === 'ints'));
      const what = `a comma-separated list of ${spec.type === 'ints' ? 'whole numbers' : 'numbers'}${boundsText(spec)}`;
      if (list.some((n) => n === undefined || !withinBounds(n, spec))) throw bad(what);
      return list;
    }
  }
}

/** A decimal number (no hex, no exponent, no empty string); whole when `int`. */
function parseNumber(text: string, int: boolean): number | undefined {
  if (!(int ? /^-?\d+$/ : /^-?(\d+(\.\d*)?|\.\d+)$/).test(text.trim())) return undefined;
  const n = Number(text);
  return Number.isFinite(n) && (!int || Number.isSafeInteger(n)) ? n : undefined;
}
