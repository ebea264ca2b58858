/**
 * The host scripts as the SSM Command documents embed them, assembled at synth.
 *
 * The code the three scripts share exists once, in agent-scripts/include/common.sh. A script pulls it
 * in with one marked include (a shellcheck directive, then the `source` line):
 *
 *   # shellcheck source-path=SCRIPTDIR source=include/common.sh
 *   source "$(dirname -- "${BASH_SOURCE[0]}")/include/common.sh" # berth:include (synth puts the file here)
 *
 * Run from the repository (shellcheck, a developer), bash sources the file; at synth
 * these two lines are replaced by the included file's text, so that each document carries one
 * self-contained script (SSM writes only the document's text to the host). Any other `source` or
 * `.` line is refused: the host would not have the file. Then the contract block is written from
 * lambdas/shared/contract.ts (`renderContract`), which gives the text the document embeds.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderContract } from '../lambdas/shared/contract';
import { SCRIPTS, type ScriptKey } from '../lambdas/shared/documents';
import { PROJECT_ROOT } from './berth-function';
import { PropsError } from './defaults';

/** Where the host scripts live; their bytes are embedded at synth time. */
export const AGENT_SCRIPTS_DIR = join(PROJECT_ROOT, 'agent-scripts');

/** The marker that ends an include line. */
export const INCLUDE_MARK = '# berth:include';

/** One include: the directive line and the `source` line of one file below agent-scripts/include/. */
const INCLUDE =
  /^# shellcheck source-path=SCRIPTDIR source=(include\/[a-z0-9-]+\.sh)\nsource "\$\(dirname -- "\$\{BASH_SOURCE\[0\]\}"\)\/\1" # berth:include[^\n]*\n/gm;
/** A line that reads another file into the shell (what must not be left after assembly). */
const SOURCING = /^[ \t]*(source|\.)[ \t]+\S[^\n]*/m;

/**
 * The script `file` of `dir` with every include replaced by the included file's text. Throws when
 * an included file is missing, itself includes, or a `source`/`.` line is left that is no include.
 */
export function assembleScript(dir: string, file: string): string {
  const text = readFileSync(join(dir, file), 'utf8');
  const assembled = text.replace(INCLUDE, (_line, path: string) => {
    let included: string;
    try {
      included = readFileSync(join(dir, path), 'utf8');
    } catch (error) {
      throw new PropsError(
        'agent-scripts',
        `${file} includes ${path}, which cannot be read (${(error as Error).message})`,
      );
    }
    if (SOURCING.test(included) || included.includes(INCLUDE_MARK)) {
      throw new PropsError('agent-scripts', `${path} (included by ${file}) must not source another file`);
    }
    return included.endsWith('\n') ? included : `${included}\n`;
  });
  const left = SOURCING.exec(assembled);
  if (left) {
    throw new PropsError(
      'agent-scripts',
      `${file} sources a file the host will not have (${JSON.stringify(left[0].trim())}): put shared code in include/ and pull it in with the "${INCLUDE_MARK}" line`,
    );
  }
  return assembled;
}

/** The host scripts, each with its includes in place, read at synth time and checked. */
export function readScripts(dir: string = AGENT_SCRIPTS_DIR): Record<ScriptKey, string> {
  const out = {} as Record<ScriptKey, string>;
  for (const [key, file] of Object.entries(SCRIPTS) as [ScriptKey, string][]) {
    let text: string;
    try {
      text = assembleScript(dir, file);
    } catch (error) {
      if (error instanceof PropsError) throw error;
      throw new PropsError('agent-scripts', `cannot read ${file} from ${dir} (${(error as Error).message})`);
    }
    if (!text.startsWith('#!/usr/bin/env bash\n')) {
      throw new PropsError(
        'agent-scripts',
        `${file} must start with "#!/usr/bin/env bash" (SSM runs it through its shebang)`,
      );
    }
    if (text.includes('{{')) {
      throw new PropsError('agent-scripts', `${file} must not contain "{{": SSM would interpolate it`);
    }
    out[key] = text;
  }
  return out;
}

/**
 * Exactly the text each Command document embeds: the assembled script with its contract block
 * written from lambdas/shared/contract.ts (infra/document-content.ts `commandDocumentContent`).
 */
export function assembledScripts(dir: string = AGENT_SCRIPTS_DIR): Record<ScriptKey, string> {
  const scripts = readScripts(dir);
  const out = {} as Record<ScriptKey, string>;
  for (const key of Object.keys(scripts) as ScriptKey[]) out[key] = renderContract(scripts[key], key);
  return out;
}
