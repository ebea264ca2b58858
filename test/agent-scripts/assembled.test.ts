import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveSettings } from '../../lambdas/shared/config';
import { SCRIPTS, type ScriptKey } from '../../lambdas/shared/documents';
import { assembledScripts, readScripts } from '../../infra/agent-scripts';
import { berthNames } from '../../infra/defaults';
import { assembledText } from '../helpers/assembled-scripts';
import { synthesizedGroup } from '../helpers/synthesized';

const KEYS = Object.keys(SCRIPTS) as ScriptKey[];
const INCLUDE =
  '# shellcheck source-path=SCRIPTDIR source=include/common.sh\n' +
  'source "$(dirname -- "${BASH_SOURCE[0]}")/include/common.sh" # berth:include (synth puts the file here)\n';

describe('the synthesized SSM documents', () => {
  it.each(KEYS)('%s embeds exactly the assembled script the tests run', (key) => {
    // Prepare
    const settings = resolveSettings({
      groupName: 'etcd-nodes',
      filters: 'Service=etcd',
      documents: berthNames('etcd-nodes', 'berth-').documents,
    });

    // Act
    const group = synthesizedGroup(settings);
    const doc = group.documents.find((d) => d.name === settings.documents[key] && d.documentType === 'Command');

    // Assess
    const runCommand = doc?.content.mainSteps[0]?.inputs.runCommand as string[] | undefined;
    expect(runCommand).toEqual([assembledText(key)]);
    expect(runCommand?.[0]).toBe(assembledScripts()[key]);
    expect(runCommand?.[0]).not.toContain('# berth:include');
  });
});

describe('assembling a script', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'berth-assemble-'));
    mkdirSync(join(dir, 'include'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const writeAll = (text: string) => {
    for (const file of Object.values(SCRIPTS)) writeFileSync(join(dir, file), text);
  };

  it('puts the included file in place of the include, and nothing else changes', () => {
    // Prepare
    writeFileSync(join(dir, 'include', 'common.sh'), 'say() { echo "$1"; }\n');
    writeAll(`#!/usr/bin/env bash\nset -eu\n${INCLUDE}say "$SSM_MountPoint"\n`);

    // Act
    const scripts = readScripts(dir);

    // Assess
    expect(scripts.prepareNode).toBe('#!/usr/bin/env bash\nset -eu\nsay() { echo "$1"; }\nsay "$SSM_MountPoint"\n');
    expect(new Set(Object.values(scripts)).size).toBe(1);
  });

  it('refuses an include whose file is missing, naming both', () => {
    // Prepare
    writeAll(`#!/usr/bin/env bash\n${INCLUDE}`);

    // Act, Assess
    expect(() => readScripts(dir)).toThrow(/^agent-scripts: prepare-node\.sh includes include\/common\.sh, which cannot be read/);
  });

  it('refuses a script that sources a file without the include line (the host has only the document)', () => {
    // Prepare
    writeFileSync(join(dir, 'include', 'common.sh'), 'say() { echo "$1"; }\n');
    writeAll('#!/usr/bin/env bash\n. ./include/common.sh\n');

    // Act, Assess
    expect(() => readScripts(dir)).toThrow(
      'agent-scripts: prepare-node.sh sources a file the host will not have (". ./include/common.sh")',
    );
  });

  it('refuses an included file that sources another one', () => {
    // Prepare
    writeFileSync(join(dir, 'include', 'common.sh'), 'source /etc/profile\n');
    writeAll(`#!/usr/bin/env bash\n${INCLUDE}`);

    // Act, Assess
    expect(() => readScripts(dir)).toThrow(
      'agent-scripts: include/common.sh (included by prepare-node.sh) must not source another file',
    );
  });

  it('checks the assembled text: "{{" in an included file is refused', () => {
    // Prepare
    writeFileSync(join(dir, 'include', 'common.sh'), 'echo "{{ MountPoint }}"\n');
    writeAll(`#!/usr/bin/env bash\n${INCLUDE}`);

    // Act, Assess
    expect(() => readScripts(dir)).toThrow('agent-scripts: prepare-node.sh must not contain "{{"');
  });
});
