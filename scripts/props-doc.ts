/**
 * Generates docs/props.md, the props reference of StatefulNodeGroup, from the props interfaces
 * themselves: the TypeScript checker lists every prop (those inherited from the settings included),
 * its type and its JSDoc; defaults come from the code that applies them (resolveSettings,
 * DEFAULT_GROWTH, DEFAULT_TIMEOUTS) or from the prop's `@default` tag. A prop without a
 * description fails the generation. test/infra/props-doc.test.ts checks that the committed file is
 * this output. `npm run docs:props` rewrites it.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ts from 'typescript';
import { DEFAULT_GROWTH, DEFAULT_TIMEOUTS, resolveSettings } from '../lambdas/shared/config';

const ROOT = join(__dirname, '..');
export const PROPS_DOC = join(ROOT, 'docs', 'props.md');

interface Row {
  name: string;
  type: string;
  defaultText: string;
  meaning: string;
}

/** Defaults that code applies, by prop path: one truth, read rather than restated. */
function computedDefaults(): Record<string, unknown> {
  const top = resolveSettings({ groupName: 'g' }) as unknown as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const key of [
    'nodeSets',
    'nodeIdTagKey',
    'ordinalTagKey',
    'ownerTagKey',
    'eniDeviceIndex',
    'filesystem',
    'envFile',
    'whenNoSetFree',
    'metricsNamespace',
    'alarmPrefix',
  ])
    out[key] = top[key];
  for (const [key, value] of Object.entries(DEFAULT_GROWTH)) {
    if (key === 'alarm' || key === 'scratch') continue;
    out[`growth.${key}`] = value;
  }
  for (const [key, value] of Object.entries(DEFAULT_GROWTH.alarm)) out[`growth.alarm.${key}`] = value;
  for (const [key, value] of Object.entries(DEFAULT_GROWTH.scratch)) out[`growth.scratch.${key}`] = value;
  for (const [key, value] of Object.entries(DEFAULT_TIMEOUTS)) out[`timeouts.${key}`] = value;
  return out;
}

const oneLine = (text: string) => text.replace(/\s+/g, ' ').trim();
const cell = (text: string) => oneLine(text).replace(/\|/g, '\\|');

function typeText(checker: ts.TypeChecker, symbol: ts.Symbol, node: ts.Node): string {
  const type = checker.getNonNullableType(checker.getTypeOfSymbolAtLocation(symbol, node));
  return checker
    .typeToString(
      type,
      undefined,
      ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope,
    )
    .replace(/ \| null$/, '');
}

/** The interfaces documented under a prefix: a prop of one of these types is expanded below it. */
const NESTED: Record<string, string> = {
  growth: 'GrowthSettings',
  'growth.alarm': 'AlarmSettings',
  'growth.scratch': 'ScratchSettings',
  'growth.tiers[]': 'SizeTier',
  timeouts: 'Timeouts',
  'nodes[]': 'NodeSpec',
};

/** Nested props given as Partial<…>: each of their fields is optional and has a default. */
const PARTIAL = ['growth', 'timeouts', 'growth.alarm', 'growth.scratch'];

export function renderPropsDoc(): string {
  const program = ts.createProgram([join(ROOT, 'infra', 'stateful-node-group.ts')], {
    strict: true,
    skipLibCheck: true,
    noEmit: true,
    types: ['node'],
  });
  const checker = program.getTypeChecker();
  const interfaces = new Map<string, ts.InterfaceDeclaration>();
  for (const file of program.getSourceFiles()) {
    if (file.fileName.includes('node_modules')) continue;
    ts.forEachChild(file, (node) => {
      if (ts.isInterfaceDeclaration(node)) interfaces.set(node.name.text, node);
    });
  }
  const defaults = computedDefaults();
  const rows: Row[] = [];
  // eslint-disable-next-line prefer-const -- assigned before visit runs
  let missing: string[];
  const visit = (interfaceName: string, prefix: string) => {
    const declaration = interfaces.get(interfaceName);
    if (!declaration) throw new Error(`props-doc: interface ${interfaceName} not found`);
    const type = checker.getTypeAtLocation(declaration);
    for (const symbol of checker.getPropertiesOfType(type)) {
      const name = `${prefix}${symbol.name}`;
      if (name === 'documents') continue; // set by the construct from the group's name, not a prop
      const meaning = ts.displayPartsToString(symbol.getDocumentationComment(checker));
      if (!meaning) missing.push(`${name} (${interfaceName})`);
      const tag = symbol.getJsDocTags(checker).find((t) => t.name === 'default');
      const tagText = tag ? ts.displayPartsToString(tag.text) : undefined;
      const optional = (symbol.flags & ts.SymbolFlags.Optional) !== 0;
      const computed = Object.prototype.hasOwnProperty.call(defaults, name) ? defaults[name] : undefined;
      const defaultText =
        computed !== undefined
          ? `\`${JSON.stringify(computed)}\``
          : tagText !== undefined
            ? tagText
            : optional || prefix.startsWith('growth.') || prefix.startsWith('timeouts.')
              ? Object.keys(NESTED).includes(name)
                ? 'the defaults of its fields'
                : '—'
              : 'required';
      const nestedKey = Object.keys(NESTED).find((k) => k === name || k === `${name}[]`);
      const shownType = nestedKey
        ? `${NESTED[nestedKey]}${nestedKey.endsWith('[]') ? '[]' : ''}${PARTIAL.includes(nestedKey) ? ' (each field optional)' : ''}`
        : typeText(checker, symbol, declaration);
      rows.push({ name, type: shownType, defaultText, meaning });
      if (nestedKey) visit(NESTED[nestedKey] as string, `${nestedKey}.`);
    }
  };
  missing = [];
  visit('StatefulNodeGroupProps', '');
  if (missing.length > 0) throw new Error(`props-doc: no JSDoc description for ${missing.join(', ')}`);
  const lines = [
    '# StatefulNodeGroup props',
    '',
    '<!-- Generated by `npm run docs:props` (scripts/props-doc.ts) from the props interfaces and',
    '     the defaults in code; test/infra/props-doc.test.ts fails when this file is out of date. -->',
    '',
    'Every prop of `new StatefulNodeGroup(scope, id, props)`; nested props are written with dots',
    '(`growth.alarm.periodSeconds`), list items with `[]`. A mistake fails `cdk synth` with one line',
    'naming the prop.',
    '',
    '| prop | type | default | meaning |',
    '|---|---|---|---|',
    ...rows.map(
      (r) => `| \`${r.name}\` | \`${cell(r.type)}\` | ${cell(r.defaultText)} | ${cell(r.meaning)} |`,
    ),
    '',
  ];
  return lines.join('\n');
}

if (require.main === module) {
  writeFileSync(PROPS_DOC, renderPropsDoc());
  console.log(`wrote ${PROPS_DOC}`);
}
