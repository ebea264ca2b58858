/** Types of the pure parts of unit-runner.js (the systemctl stand-in), for its table tests. */

export interface UnitEntry {
  section: string;
  key: string;
  value: string;
}

export interface FoldedUnit {
  /** List settings by `Section.Key` (an empty assignment reset them). */
  lists: Record<string, string[]>;
  /** Other settings by `Section.Key`, last value wins. */
  values: Record<string, string>;
}

export interface LoadedUnit extends FoldedUnit {
  name: string;
  /** The unit file, then its drop-ins in the order applied. */
  files: string[];
}

export interface ExecLine {
  ignoreFailure: boolean;
  privileged: boolean;
  withArgv0: boolean;
  /** With `@`: the argv[0] the process gets (the second word). */
  argv0: string | undefined;
  noExpand: boolean;
  argv: string[];
}

export function parseUnitText(text: string): UnitEntry[];
export function foldEntries(entryLists: UnitEntry[][]): FoldedUnit;
export function splitWords(text: string): { word: string; quoted: boolean }[];
export function parseEnvironmentAssignments(values: string[]): Record<string, string>;
export function parseEnvironmentFile(text: string): Record<string, string>;
export function expandSpecifiers(text: string, unitName: string, hostname?: string): string;
export function parseExecLine(line: string, env: Record<string, string>): ExecLine;
export function loadUnit(root: string, name: string): LoadedUnit | undefined;
export function unitEnvironment(root: string, unit: LoadedUnit): Record<string, string>;
