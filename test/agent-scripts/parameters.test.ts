import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEVICE_NAMES, MAX_SET_VOLUMES, renderContract, type PatternName } from '../../lambdas/shared/contract';
import { SCRIPTS, type ScriptKey } from '../../lambdas/shared/documents';
import { INCLUDE_MARK } from '../../infra/agent-scripts';
import { COMMAND_PARAMETERS, PARAMETER_PATTERNS } from '../../infra/document-content';
import { assembledScriptPath, assembledText } from '../helpers/assembled-scripts';
import { AGENT_SCRIPTS_DIR, LoopDevices, runAgentScript, type LoopVolume } from '../helpers/loop-devices';

const sourceText = (name: string): string => readFileSync(join(AGENT_SCRIPTS_DIR, name), 'utf8');
const keyOf = (name: string): ScriptKey =>
  (Object.keys(SCRIPTS) as ScriptKey[]).find((key) => SCRIPTS[key] === name) ?? 'prepareNode';
/** What the SSM document embeds and the tests run: include/common.sh in place of the include line. */
const scriptText = (name: string): string => assembledText(keyOf(name));
const COMMON = 'include/common.sh';

describe('every agent script', () => {
  const names = Object.values(SCRIPTS);

  it.each(names)('%s starts in strict mode with an ERR trap and its usage', (name) => {
    // Prepare
    const text = scriptText(name);

    // Act
    const help = spawnSync('bash', [assembledScriptPath(name), '--help'], { encoding: 'utf8' });

    // Assess
    expect(text.split('\n')[0]).toBe('#!/usr/bin/env bash');
    expect(text).toMatch(/^set -euo pipefail$/m);
    expect(text).toMatch(/^trap 'on_error "\$LINENO" "\$BASH_COMMAND"' ERR$/m);
    expect(help.status).toBe(0);
    expect(help.stderr).toMatch(/Parameters \(environment/);
    expect(help.stdout).toBe('');
  });

  it.each(names)('%s holds the common part once: its one include, filled in with include/common.sh at synth', (name) => {
    // Prepare
    const source = sourceText(name);
    const common = sourceText(COMMON);

    // Act
    const includes = source.split('\n').filter((line) => line.includes(INCLUDE_MARK));
    const assembled = scriptText(name);

    // Assess: the source defines none of the shared functions; the document's text has them once
    expect(includes).toEqual([`source "$(dirname -- "\${BASH_SOURCE[0]}")/${COMMON}" ${INCLUDE_MARK} (synth puts the file here)`]);
    expect(source).not.toMatch(/^(fail|succeed|json_string|find_device|probe_device)\(\)/m);
    expect(common.length).toBeGreaterThan(1000);
    expect(assembled.split(common)).toHaveLength(2);
    expect(assembled.replace(common, '')).toBe(
      source.replace(/^# shellcheck source-path=SCRIPTDIR source=include\/common\.sh\n.*# berth:include.*\n/m, ''),
    );
  });

  it('as assembled, sources no file and runs alone in an empty directory, as on the host', () => {
    // Prepare: only the assembled text, without agent-scripts/include beside it
    const dir = mkdtempSync(join(tmpdir(), 'berth-alone-'));
    const file = join(dir, '_script.sh');
    writeFileSync(file, scriptText('quiesce-node.sh'), { mode: 0o755 });
    const sources = readdirSync(AGENT_SCRIPTS_DIR).filter((f) => f.endsWith('.sh'));

    // Act
    const sourcing = names.filter((name) => /^\s*(source|\.)\s+\S/m.test(scriptText(name)));
    const run = spawnSync(file, [], { encoding: 'utf8', env: { PATH: process.env.PATH, SSM_MountPoint: 'relative' } });
    rmSync(dir, { recursive: true, force: true });

    // Assess
    expect(sources.sort()).toEqual([...names].sort());
    expect(sourcing).toEqual([]);
    expect(run.status).toBe(2);
    expect(run.stdout).toMatch(/^\{"ok":false,"action":"quiesce-node","code":"invalid-parameter".*MountPoint must be an absolute path/);
  });

  it.each(names)(
    '%s never removes a device, wipes a signature, forces mkfs or unmounts lazily',
    (name) => {
      // Prepare
      const code = scriptText(name)
        .split('\n')
        .filter((line) => !line.trimStart().startsWith('#'))
        .join('\n');

      // Act
      const forbidden = [
        /btrfs\s+device\s+(remove|delete)/,
        /wipefs\s+(-a|--all)/,
        /mkfs\.\w+[^\n]*\s-(f|F)\b/,
        /umount[^\n]*\s-(l|f)\b/,
        /\bdd\b/,
      ].filter((pattern) => pattern.test(code));

      // Assess
      expect(forbidden).toEqual([]);
    },
  );

  it('passes shellcheck as written (following the include) and as assembled', () => {
    // Act
    const sources = spawnSync('shellcheck', ['-x', ...[...names, COMMON].map((name) => join(AGENT_SCRIPTS_DIR, name))], {
      encoding: 'utf8',
    });
    const assembled = spawnSync('shellcheck', names.map(assembledScriptPath), { encoding: 'utf8' });

    // Assess
    expect(sources.error).toBeUndefined();
    expect(sources.stdout).toBe('');
    expect(sources.status).toBe(0);
    expect(assembled.stdout).toBe('');
    expect(assembled.status).toBe(0);
  });
});

describe('bad parameters', () => {
  let loop: LoopDevices;
  let volume: LoopVolume;

  beforeAll(() => {
    loop = LoopDevices.create('parameters');
    volume = loop.createVolume({ sizeMiB: 128 });
  });

  afterAll(() => {
    loop.cleanup();
  });

  const prepareNode = {
    VolumeIds: 'vol-0123456789abcdef0',
    DeviceNames: '',
    MountPoint: '/data',
    Filesystem: 'btrfs',
    NodeId: 'etcd-0',
    NetworkInterfaceId: 'eni-0123456789abcdef0',
    NodeIp: '10.0.1.20',
    NodeMac: '0a:1b:2c:3d:4e:5f',
    NodeSubnetCidr: '10.0.1.0/24',
    EnvFile: '/etc/berth/node.env',
    ServiceUnit: 'etcd.service',
  };
  const growFilesystem = {
    Mode: 'add-device',
    VolumeId: 'vol-0123456789abcdef0',
    DeviceName: '',
    MountPoint: '/data',
  };
  const quiesceNode = { MountPoint: '/data', ServiceUnit: 'etcd.service', TimeoutSeconds: '30' };

  const cases: Array<[string, string, Record<string, string>, RegExp]> = [
    ['prepare-node.sh', 'no volume ids', { ...prepareNode, VolumeIds: '' }, /VolumeIds is required/],
    ['prepare-node.sh', 'a volume id with a shell command', { ...prepareNode, VolumeIds: 'vol-0123456789abcdef0;reboot' }, /not a volume id/],
    ['prepare-node.sh', 'an upper-case volume id', { ...prepareNode, VolumeIds: 'vol-0123456789ABCDEF0' }, /not a volume id/],
    ['prepare-node.sh', 'a trailing comma', { ...prepareNode, VolumeIds: 'vol-0123456789abcdef0,' }, /separated by single commas/],
    ['prepare-node.sh', 'volume ids on two lines', { ...prepareNode, VolumeIds: 'vol-0123456789abcdef0\nvol-0123456789abcdef1' }, /separated by single commas/],
    ['prepare-node.sh', 'device names on two lines', { ...prepareNode, DeviceNames: '/dev/sdf\n/dev/sdg' }, /separated by single commas/],
    ['prepare-node.sh', 'a volume listed twice', { ...prepareNode, VolumeIds: 'vol-0123456789abcdef0,vol-0123456789abcdef0' }, /listed twice/],
    ['prepare-node.sh', 'an empty volume id in the list', { ...prepareNode, VolumeIds: 'vol-0123456789abcdef0,,vol-0123456789abcdef1' }, /not a volume id/],
    ['prepare-node.sh', 'fewer device names than volumes', { ...prepareNode, DeviceNames: '/dev/sdf,/dev/sdg' }, /one device name per volume id/],
    ['prepare-node.sh', 'a device name outside /dev', { ...prepareNode, DeviceNames: '/tmp/sdf' }, /not a device name berth attaches/],
    ['prepare-node.sh', 'a device name EC2 does not document for EBS', { ...prepareNode, DeviceNames: '/dev/sdba' }, /not a device name berth attaches/],
    ['prepare-node.sh', 'a relative mount point', { ...prepareNode, MountPoint: 'data' }, /MountPoint must be an absolute path/],
    ['prepare-node.sh', 'a mount point with ..', { ...prepareNode, MountPoint: '/data/../etc' }, /MountPoint must be an absolute path/],
    ['prepare-node.sh', 'a mount point with a space', { ...prepareNode, MountPoint: '/my data' }, /MountPoint must be an absolute path/],
    ['prepare-node.sh', 'a mount point with $(…)', { ...prepareNode, MountPoint: '/data$(reboot)' }, /MountPoint must be an absolute path/],
    ['prepare-node.sh', 'the root as mount point', { ...prepareNode, MountPoint: '/' }, /MountPoint must/],
    ['prepare-node.sh', 'an unknown filesystem', { ...prepareNode, Filesystem: 'zfs' }, /Filesystem must be btrfs, ext4 or xfs/],
    ['prepare-node.sh', 'several volumes with ext4', { ...prepareNode, Filesystem: 'ext4', VolumeIds: 'vol-0123456789abcdef0,vol-0123456789abcdef1' }, /needs btrfs/],
    ['prepare-node.sh', 'a NodeID with a slash', { ...prepareNode, NodeId: 'etcd/0' }, /NodeId must match/],
    ['prepare-node.sh', 'a NodeID of 129 characters', { ...prepareNode, NodeId: 'n'.repeat(129) }, /NodeId must match/],
    ['prepare-node.sh', 'a bad ENI id', { ...prepareNode, NetworkInterfaceId: 'eni-xyz' }, /not an ENI id/],
    ['prepare-node.sh', 'an IP with an octet above 255', { ...prepareNode, NodeIp: '10.0.1.256' }, /not an IPv4 address/],
    ['prepare-node.sh', 'an IPv6 address', { ...prepareNode, NodeIp: 'fd00::1' }, /not an IPv4 address/],
    ['prepare-node.sh', 'a relative env file', { ...prepareNode, EnvFile: 'node.env' }, /EnvFile must be a \*\.env file/],
    ['prepare-node.sh', 'an env file with a backquote', { ...prepareNode, EnvFile: '/etc/`id`.env' }, /EnvFile must be a \*\.env file/],
    ['prepare-node.sh', 'a system file as env file', { ...prepareNode, EnvFile: '/etc/passwd' }, /EnvFile must be a \*\.env file .*: '\/etc\/passwd'/],
    ['prepare-node.sh', 'an env file on the set’s filesystem', { ...prepareNode, MountPoint: '/var/lib/etcd', EnvFile: '/var/lib/etcd/node.env' }, /EnvFile \/var\/lib\/etcd\/node\.env is inside the mount point \/var\/lib\/etcd/],
    ['prepare-node.sh', 'a MAC in upper case', { ...prepareNode, NodeMac: '0A:1B:2C:3D:4E:5F' }, /NodeMac is not a lowercase MAC address/],
    ['prepare-node.sh', 'a subnet wider than a VPC allows', { ...prepareNode, NodeSubnetCidr: '10.0.0.0/8' }, /NodeSubnetCidr is not a subnet CIDR/],
    ['prepare-node.sh', 'a unit that is not a unit name', { ...prepareNode, ServiceUnit: 'etcd' }, /ServiceUnit must be a unit name/],
    ['prepare-node.sh', 'a unit that looks like an option', { ...prepareNode, ServiceUnit: '--now.service' }, /ServiceUnit must be a unit name/],
    ['grow-filesystem.sh', 'an unknown mode', { ...growFilesystem, Mode: 'balance' }, /Mode must be add-device or expand/],
    ['grow-filesystem.sh', 'no volume id', { ...growFilesystem, VolumeId: '' }, /VolumeId is required/],
    ['grow-filesystem.sh', 'a bad volume id', { ...growFilesystem, VolumeId: 'vol-123' }, /not a volume id/],
    ['grow-filesystem.sh', 'a bad device name', { ...growFilesystem, DeviceName: '/dev/sdf;rm' }, /not a device name berth attaches/],
    ['grow-filesystem.sh', 'no mount point', { ...growFilesystem, MountPoint: '' }, /MountPoint is required/],
    ['grow-filesystem.sh', 'a mount point with a newline', { ...growFilesystem, MountPoint: '/data\n/etc' }, /MountPoint must be an absolute path/],
    ['quiesce-node.sh', 'no mount point', { ...quiesceNode, MountPoint: '' }, /MountPoint is required/],
    ['quiesce-node.sh', 'a mount point with a glob', { ...quiesceNode, MountPoint: '/data*' }, /MountPoint must be an absolute path/],
    ['quiesce-node.sh', 'a unit with a space', { ...quiesceNode, ServiceUnit: 'etcd .service' }, /ServiceUnit must be a unit name/],
    ['quiesce-node.sh', 'a negative timeout', { ...quiesceNode, TimeoutSeconds: '-1' }, /TimeoutSeconds must be/],
    ['quiesce-node.sh', 'a timeout above an hour', { ...quiesceNode, TimeoutSeconds: '3601' }, /TimeoutSeconds must be/],
  ];

  it.each(cases)('%s rejects %s before doing anything', (script, _what, parameters, message) => {
    // Prepare: the fixture's blank volume answers to the valid volume id
    const withVolume = Object.fromEntries(
      Object.entries(parameters).map(([k, v]) => [k, v.replaceAll('vol-0123456789abcdef0', volume.volumeId)]),
    );

    // Act
    const run = loop.runScript(script, withVolume);

    // Assess
    expect(run.status).toBe(2);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(run.result).toMatchObject({ ok: false, action: script.replace('.sh', ''), code: 'invalid-parameter' });
    expect(String(run.result?.error)).toMatch(message);
    expect(run.stderr).toMatch(message);
    expect(readdirSync(loop.hostRoot)).toEqual([]);
    expect(loop.systemctlCalls()).toEqual([]);
    expect(spawnSync('blkid', ['-p', volume.device]).status).toBe(2);
  });

  it.each([
    ['BERTH_HOST_ROOT', 'relative/root', /BERTH_HOST_ROOT must be an absolute path/],
    ['BERTH_DEVICE_DIR', '/dev/disk/../by-id', /BERTH_DEVICE_DIR must be an absolute path/],
    ['BERTH_DEVICE_WAIT_SECONDS', 'soon', /BERTH_DEVICE_WAIT_SECONDS must be a number/],
    ['BERTH_SYSTEMCTL', 'systemctl; reboot', /BERTH_SYSTEMCTL must be a command name/],
  ])('rejects a bad host override %s', (name, value, message) => {
    // Act
    const run = loop.runScript('quiesce-node.sh', quiesceNode, { [name]: value });

    // Assess
    expect(run.status).toBe(2);
    expect(String(run.result?.error)).toMatch(message);
    expect(loop.systemctlCalls()).toEqual([]);
  });

  it('rejects arguments: parameters come only from the environment', () => {
    // Act
    const run = spawnSync('bash', [assembledScriptPath('grow-filesystem.sh'), '/dev/sdf'], {
      encoding: 'utf8',
      env: loop.env(growFilesystem),
    });

    // Assess
    expect(run.status).toBe(2);
    expect(run.stdout).toMatch(/"code":"invalid-parameter"/);
    expect(execFileSync('ls', [loop.hostRoot], { encoding: 'utf8' })).toBe('');
  });
});

describe('the SSM documents and the scripts agree on the contract (lambdas/shared/contract.ts)', () => {
  const documentAccepts = (pattern: keyof typeof PARAMETER_PATTERNS, value: string) =>
    new RegExp(PARAMETER_PATTERNS[pattern]).test(value);
  /** Runs the real prepare-node.sh on a volume that does not exist: it refuses bad input first (code invalid-parameter). */
  const scriptAccepts = (parameters: Record<string, string>) => {
    const run = runAgentScript(
      'prepare-node.sh',
      {
        PATH: process.env.PATH ?? '/usr/bin:/bin',
        BERTH_DEVICE_DIR: '/nonexistent',
        BERTH_DEV_DIR: '/nonexistent',
        BERTH_DEVICE_WAIT_SECONDS: '0',
        BERTH_HOST_ROOT: '/nonexistent',
        ...Object.fromEntries(
          Object.entries({
            VolumeIds: 'vol-0123456789abcdef0',
            DeviceNames: '',
            MountPoint: '/data',
            Filesystem: 'btrfs',
            NodeId: 'etcd-0',
            NetworkInterfaceId: '',
            NodeIp: '',
            NodeMac: '',
            NodeSubnetCidr: '',
            EnvFile: '',
            ServiceUnit: '',
            ...parameters,
          }).map(([k, v]) => [`SSM_${k}`, v]),
        ),
      },
    );
    expect(run.result).toBeDefined();
    return run.result?.code !== 'invalid-parameter';
  };

  it('the common part on disk and every assembled script carry the contract block as synth writes it', () => {
    for (const name of [COMMON, ...Object.values(SCRIPTS)]) {
      const text = name === COMMON ? sourceText(COMMON) : scriptText(name);
      expect({ name, rendered: renderContract(text, name) === text }).toEqual({ name, rendered: true });
    }
  });

  it('accept and refuse the same device names, and accept every name the Lambdas pick', () => {
    // Prepare
    const values = [
      ...DEVICE_NAMES,
      '/dev/sdq',
      '/dev/sdz',
      '/dev/sdba',
      '/dev/xvdda',
      '/dev/xvdf',
      '/dev/xvda',
      '/dev/sda1',
      '/dev/nvme1n1',
      '/tmp/sdf',
      '/dev/xvdba;reboot',
    ];
    // Act
    const verdicts = values.map((value) => ({
      value,
      document: documentAccepts('deviceNames', value),
      script: scriptAccepts({ DeviceNames: value }),
    }));
    // Assess
    for (const v of verdicts) expect(v).toEqual({ value: v.value, document: v.script, script: v.script });
    expect(verdicts.filter((v) => v.script).map((v) => v.value)).toEqual(DEVICE_NAMES);
  });

  it('accept and refuse the same NodeIDs', () => {
    // Prepare
    const values = ['etcd-0', 'a@b', 'x+y=z', 'a:b.c_d', 'n'.repeat(128), '', 'n'.repeat(129), 'etcd/0', 'a b', "a'b", '$x', 'é'];
    // Act
    const verdicts = values.map((value) => ({
      value,
      document: documentAccepts('nodeId', value),
      script: scriptAccepts({ NodeId: value }),
    }));
    // Assess
    for (const v of verdicts) expect(v).toEqual({ value: v.value, document: v.script, script: v.script });
    expect(verdicts.filter((v) => v.script)).toHaveLength(6);
  });
});

describe('every document parameter: the script accepts exactly what its allowedPattern accepts', () => {
  const id = (n: number) => `vol-${n.toString(16).padStart(17, '0')}`;
  const ids = (n: number) => Array.from({ length: n }, (_, i) => id(i)).join(',');
  const segment = (n: number) => `/${'s'.repeat(n)}`;
  const paths = ['/data', '/var/lib/etcd', '/-x/_y@z+1', '/a/.hidden', '/a/..', '/a/./b', '/', 'data', '/a b', '/a//b', '/a/', segment(128), segment(129), '/a'.repeat(32), '/a'.repeat(33), '/$x', '/a;b'];
  /** Values per pattern, chosen at the edges of each rule. */
  const SAMPLES: Partial<Record<PatternName, string[]>> = {
    volumeIds: [id(1), 'vol-12345678', ids(2), ids(MAX_SET_VOLUMES), ids(MAX_SET_VOLUMES + 1), 'vol-1234567', `${id(1)},`, `,${id(1)}`, `${id(1)},,${id(2)}`, 'VOL-12345678', `${id(1)} ${id(2)}`],
    volumeId: ['vol-12345678', id(3), 'vol-1', `${id(3)}0`, 'vol-ABCDEF12', `${id(1)},${id(2)}`],
    deviceNames: ['', '/dev/sdf', '/dev/sdf,/dev/xvdba', DEVICE_NAMES.join(','), '/dev/sdf,', '/dev/sdq', '/dev/sdf,,/dev/sdg', '/dev/sdf /dev/sdg'],
    deviceName: ['/dev/sdf', '/dev/xvdcz', '/dev/sdq', '/dev/xvda', '/dev/nvme1n1'],
    path: paths,
    optionalPath: ['', ...paths],
    filesystem: ['btrfs', 'ext4', 'xfs', 'zfs', 'BTRFS', 'ext4 '],
    optionalEni: ['', 'eni-12345678', 'eni-0123456789abcdef0', 'eni-123', 'eni-0123456789ABCDEF0', 'eni-12345678;x'],
    optionalMac: ['', '0a:1b:2c:3d:4e:5f', 'ff:ff:ff:ff:ff:ff', '0A:1B:2C:3D:4E:5F', '0a:1b:2c:3d:4e', '0a-1b-2c-3d-4e-5f', '0a:1b:2c:3d:4e:5f:00', 'zz:1b:2c:3d:4e:5f'],
    optionalSubnetCidr: ['', '10.0.1.0/24', '172.31.0.0/16', '10.0.0.0/28', '10.0.0.0/15', '10.0.0.0/29', '10.0.0.0', '256.0.0.0/24', '10.0.0.0/24 '],
    optionalEnvFile: ['', '/etc/berth/node.env', '/run/berth/x.env', '/var/lib/app/n.env', '/opt/a/b/c.env', '/etc/passwd', '/etc/node.env', '/etc/berth/node', '/tmp/x/y.env', '/etc/berth/.env', '/etc/../x/y.env', '/etc/berth/a b.env', '/var/x.env'],
    optionalIpv4: ['', '10.0.0.1', '255.255.255.255', '0.0.0.0', '256.0.0.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', 'a.b.c.d', '1.2.3.4 '],
    optionalUnit: ['', 'etcd.service', 'kafka@1.target', 'data-x.mount', '-H.service', 'etcd', `${'a'.repeat(240)}.service`, `${'a'.repeat(241)}.service`, 'x;y.service'],
    nodeId: ['', 'etcd-0', 'a@b', 'x+y=z', 'n'.repeat(128), 'n'.repeat(129), 'etcd/0', 'a b', "a'b", '$x'],
    growMode: ['add-device', 'expand', 'shrink', 'EXPAND'],
    seconds: ['1', '60', '3599', '3600', '3601', '0', '99999', '-1', '1.5', '007'],
  };
  const HOST = { PATH: process.env.PATH ?? '/usr/bin:/bin', BERTH_DEVICE_DIR: '/nonexistent', BERTH_DEV_DIR: '/nonexistent', BERTH_DEVICE_WAIT_SECONDS: '0', BERTH_HOST_ROOT: '/nonexistent' };
  /** Values that pass every check and then find nothing to act on (no such volume or mount). */
  const BASELINE: Record<ScriptKey, Record<string, string>> = {
    prepareNode: { VolumeIds: id(1), DeviceNames: '', MountPoint: '/data', Filesystem: 'btrfs', NodeId: 'etcd-0', NetworkInterfaceId: '', NodeIp: '', NodeMac: '', NodeSubnetCidr: '', EnvFile: '', ServiceUnit: '' },
    growFilesystem: { Mode: 'add-device', VolumeId: id(1), DeviceName: '/dev/sdf', MountPoint: '/nonexistent-berth' },
    quiesceNode: { MountPoint: '/nonexistent-berth', ServiceUnit: '', TimeoutSeconds: '1' },
  };
  const cases = (Object.keys(COMMAND_PARAMETERS) as ScriptKey[]).flatMap((key) =>
    Object.entries(COMMAND_PARAMETERS[key] as Record<string, { pattern: PatternName; optional?: boolean }>).map(
      ([parameter, spec]) => ({ key, parameter, spec }),
    ),
  );

  it.each(cases.map((c) => [SCRIPTS[c.key], c.parameter, c] as const))('%s %s', (_name, _parameter, { key, parameter, spec }) => {
    // Prepare: a required parameter is never sent empty by SSM (the document refuses ""), so "" is
    // only judged for optional ones; a list of device names comes with as many volume ids.
    const values = (SAMPLES[spec.pattern] ?? []).filter((v) => v !== '' || spec.optional);
    expect(values.length).toBeGreaterThan(3);
    // Act
    const verdicts = values.map((value) => {
      const given: Record<string, string> = { ...BASELINE[key], [parameter]: value };
      if (parameter === 'DeviceNames' && value) given.VolumeIds = ids(value.split(',').length);
      const run = runAgentScript(SCRIPTS[key], {
        ...HOST,
        ...Object.fromEntries(Object.entries(given).map(([k, v]) => [`SSM_${k}`, v])),
      });
      // A refusal of this parameter names it first; a rule across parameters (NodeIp needs NodeMac)
      // names another and is no verdict on this value.
      const refused = run.result?.code === 'invalid-parameter' && String(run.result.error).startsWith(parameter);
      const script = run.result !== undefined && !refused;
      return { value: value.length > 40 ? `${value.slice(0, 40)}…(${value.length})` : value, document: new RegExp(PARAMETER_PATTERNS[spec.pattern]).test(value), script };
    });
    // Assess
    for (const v of verdicts) expect(v).toEqual({ ...v, script: v.document });
    expect(verdicts.some((v) => v.document)).toBe(true);
    expect(verdicts.some((v) => !v.document)).toBe(true);
  });
});
