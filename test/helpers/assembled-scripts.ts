/**
 * The host scripts exactly as the SSM documents embed them (infra/agent-scripts.ts
 * `assembledScripts`: include/common.sh in place of the include, the contract block written), as files
 * that bash can run: the agent-script tests, the loop-device fixture and the local cloud's SSM run
 * these, never the files of agent-scripts/ with their include line.
 *
 * The files live in one directory per content (`<tmpdir>/berth-assembled-scripts/<sha256>`), named
 * like the sources (prepare-node.sh …), written once and atomically (parallel test workers share it).
 */
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { assembledScripts } from '../../infra/agent-scripts';
import { SCRIPTS, type ScriptKey } from '../../lambdas/shared/documents';

let cached: { dir: string; texts: Record<ScriptKey, string> } | undefined;

function assemble(): { dir: string; texts: Record<ScriptKey, string> } {
  if (cached) return cached;
  const texts = assembledScripts();
  const hash = createHash('sha256');
  for (const key of Object.keys(SCRIPTS) as ScriptKey[]) hash.update(`${SCRIPTS[key]}\0${texts[key]}\0`);
  const dir = join(tmpdir(), 'berth-assembled-scripts', hash.digest('hex').slice(0, 24));
  mkdirSync(dir, { recursive: true });
  for (const key of Object.keys(SCRIPTS) as ScriptKey[]) {
    const file = join(dir, SCRIPTS[key]);
    if (existsSync(file)) continue;
    const partial = `${file}.${process.pid}.tmp`;
    writeFileSync(partial, texts[key], { mode: 0o755 });
    renameSync(partial, file);
  }
  cached = { dir, texts };
  return cached;
}

/** The assembled text of one script, by key. */
export function assembledText(key: ScriptKey): string {
  return assemble().texts[key];
}

/** The path of the assembled copy of `agent-scripts/<name>` (e.g. `prepare-node.sh`). */
export function assembledScriptPath(name: string): string {
  if (!(Object.values(SCRIPTS) as string[]).includes(name)) {
    throw new Error(`${name} is not an agent script (${Object.values(SCRIPTS).join(', ')})`);
  }
  return join(assemble().dir, name);
}
