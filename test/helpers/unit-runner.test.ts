/**
 * The systemctl stand-in of the network world: its unit parsing (tables), and start / stop /
 * guards on a host root in a temporary folder (no mounts: its own folder is never a mount point).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import {
  expandSpecifiers,
  foldEntries,
  loadUnit,
  parseEnvironmentFile,
  parseExecLine,
  parseUnitText,
  unitEnvironment,
} from './unit-runner';

const RUNNER = resolve(__dirname, 'unit-runner.js');

/** Whether a process runs (a zombie waiting for its reaper does not). */
function running(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

describe('unit-runner parsing', () => {
  it.each([
    ['a plain setting', '[Service]\nType=notify\n', [{ section: 'Service', key: 'Type', value: 'notify' }]],
    [
      'comments and blank lines are skipped',
      '# c\n; c\n\n[Unit]\nAfter=x\n',
      [{ section: 'Unit', key: 'After', value: 'x' }],
    ],
    [
      'a backslash continues the line',
      '[Service]\nExecStart=/bin/a \\\n  --b\n',
      [{ section: 'Service', key: 'ExecStart', value: '/bin/a    --b' }],
    ],
    [
      'an empty value is kept',
      '[Service]\nExecStart=\n',
      [{ section: 'Service', key: 'ExecStart', value: '' }],
    ],
  ])('reads %s', (_name, text, entries) => {
    expect(parseUnitText(text)).toEqual(entries);
  });

  it('resets a list setting on an empty assignment and keeps the last value of a plain one', () => {
    const unit = foldEntries([
      parseUnitText('[Service]\nType=notify\nExecStart=/usr/bin/etcd $DAEMON_ARGS\nEnvironment=A=1\n'),
      parseUnitText(
        '[Service]\nType=simple\nExecStart=\nExecStart=/usr/bin/etcd --name x\nEnvironment=B=2\n',
      ),
    ]);
    expect(unit.lists['Service.ExecStart']).toEqual(['/usr/bin/etcd --name x']);
    expect(unit.lists['Service.Environment']).toEqual(['A=1', 'B=2']);
    expect(unit.values['Service.Type']).toBe('simple');
  });

  it.each([
    ['${VAR} inside a word', '/bin/x --name=${N}', { N: 'a b' }, ['/bin/x', '--name=a b']],
    [
      '$VAR as a word splits at whitespace',
      '/bin/x $ARGS',
      { ARGS: ' --a 1  --b ' },
      ['/bin/x', '--a', '1', '--b'],
    ],
    ['an unset $VAR gives no word', '/bin/x $NONE y', {}, ['/bin/x', 'y']],
    ['an unset ${VAR} gives an empty word', '/bin/x ${NONE}', {}, ['/bin/x', '']],
    ['$$ is a dollar', '/bin/x a$$b', {}, ['/bin/x', 'a$b']],
    ['quotes keep a word', '/bin/sh -c "echo a  b"', {}, ['/bin/sh', '-c', 'echo a  b']],
    ['the : prefix expands nothing', ':/bin/x $A', { A: 'b' }, ['/bin/x', '$A']],
  ])('expands %s', (_name, line, env, argv) => {
    expect(parseExecLine(line, env).argv).toEqual(argv);
  });

  it.each([
    ['-', '-/bin/false', { ignoreFailure: true, privileged: false, withArgv0: false }],
    ['+', '+/bin/true', { ignoreFailure: false, privileged: true, withArgv0: false }],
    ['!!', '!!/bin/true', { ignoreFailure: false, privileged: true, withArgv0: false }],
    ['-@', '-@/bin/sleep sleeper 5', { ignoreFailure: true, privileged: false, withArgv0: true }],
  ])('reads the %s prefix', (_name, line, flags) => {
    expect(parseExecLine(line, {})).toMatchObject(flags);
  });

  it('gives @ its argv[0] from the second word', () => {
    expect(parseExecLine('@/bin/sleep sleeper 5', {})).toMatchObject({
      argv: ['/bin/sleep', '5'],
      argv0: 'sleeper',
    });
  });

  it.each([
    ['%n', 'etcd.service'],
    ['%N', 'etcd'],
    ['%p', 'etcd'],
    ['%H', 'host-1'],
    ['/etc/default/%p', '/etc/default/etcd'],
    ['100%%', '100%'],
  ])('replaces the specifier in %s', (text, expected) => {
    expect(expandSpecifiers(text, 'etcd.service', 'host-1')).toBe(expected);
  });

  it('reads an environment file: comments skipped, quotes removed', () => {
    expect(parseEnvironmentFile('# x\nNODE_ID=etcd-0\nNODE_IP="10.0.0.5"\n\nBAD\n')).toEqual({
      NODE_ID: 'etcd-0',
      NODE_IP: '10.0.0.5',
    });
  });
});

describe('unit-runner on a host root', () => {
  let root: string;
  let state: string;

  beforeEach(() => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-units-'));
    root = join(dir, 'host');
    state = join(dir, 'state');
    mkdirSync(join(root, 'lib/systemd/system'), { recursive: true });
    mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  });

  afterEach(() => {
    // Whatever a failed test left running.
    spawnSync('pkill', ['-F', join(state, 'sleeper.service.pid')]);
    rmSync(join(root, '..'), { recursive: true, force: true });
  });

  function write(path: string, text: string): void {
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  }

  function systemctl(...args: string[]): { status: number | null; stdout: string; stderr: string } {
    const out = spawnSync(RUNNER, args, {
      encoding: 'utf8',
      env: { PATH: process.env.PATH, BERTH_HOST_ROOT: root, BERTH_UNIT_STATE_DIR: state },
      timeout: 30_000,
    });
    return { status: out.status, stdout: out.stdout, stderr: out.stderr };
  }

  const SLEEPER =
    '[Service]\nEnvironmentFile=-/etc/default/%p\nExecStart=/bin/sh -c "echo $$NAME >$$OUT; exec sleep 60"\n[Install]\nWantedBy=multi-user.target\n';

  it('loads the unit from lib with the drop-ins of etc in lexical order', () => {
    write('lib/systemd/system/sleeper.service', SLEEPER);
    write('etc/systemd/system/sleeper.service.d/50-b.conf', '[Service]\nEnvironment=NAME=b\n');
    write('etc/systemd/system/sleeper.service.d/10-a.conf', '[Service]\nEnvironment=NAME=a OUT=/x\n');
    write('etc/default/sleeper', 'NAME=from-file\nGONE=x\nKEPT=y\n');
    write('etc/systemd/system/sleeper.service.d/60-c.conf', '[Service]\nUnsetEnvironment=GONE KEPT=other\n');
    const unit = loadUnit(root, 'sleeper.service');
    expect(unit?.files.map((f) => f.slice(root.length))).toEqual([
      '/lib/systemd/system/sleeper.service',
      '/etc/systemd/system/sleeper.service.d/10-a.conf',
      '/etc/systemd/system/sleeper.service.d/50-b.conf',
      '/etc/systemd/system/sleeper.service.d/60-c.conf',
    ]);
    // EnvironmentFile= overrides Environment=; UnsetEnvironment= comes last.
    const env = unitEnvironment(root, unit!);
    expect(env).toMatchObject({ NAME: 'from-file', OUT: '/x', KEPT: 'y' });
    expect(env).not.toHaveProperty('GONE');
  });

  it('starts a daemon detached with its environment, reports it active, stops it, and logs every call', () => {
    // The service sees the host root as its /: its /out.txt is <root>/out.txt.
    const out = join(root, 'out.txt');
    write('lib/systemd/system/sleeper.service', SLEEPER);
    write(
      'etc/systemd/system/sleeper.service.d/10-env.conf',
      `[Service]\nEnvironment=NAME=hello OUT=/out.txt\n`,
    );

    const started = systemctl('start', '--', 'sleeper.service');
    const active = systemctl('is-active', 'sleeper.service');
    const pid = Number(readFileSync(join(state, 'sleeper.service.pid'), 'utf8'));
    const stopped = systemctl('stop', 'sleeper.service');
    const after = systemctl('is-active', 'sleeper.service');

    expect(started.status).toBe(0);
    expect(readFileSync(out, 'utf8')).toBe('hello\n');
    expect(active).toMatchObject({ status: 0, stdout: 'active\n' });
    expect(stopped.status).toBe(0);
    expect(running(pid)).toBe(false);
    expect(after).toMatchObject({ status: 3, stdout: 'inactive\n' });
    const calls = readFileSync(join(state, 'calls.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(calls.map((c: { argv: string[]; exit: number }) => [c.argv.join(' '), c.exit])).toEqual([
      ['start -- sleeper.service', 0],
      ['is-active sleeper.service', 0],
      ['stop sleeper.service', 0],
      ['is-active sleeper.service', 3],
    ]);
  });

  it('refuses to start on an unmet AssertPathIsMountPoint or RequiresMountsFor, and skips on an unmet Condition', () => {
    write('lib/systemd/system/sleeper.service', SLEEPER);
    mkdirSync(join(root, 'data'));
    write('etc/systemd/system/sleeper.service.d/10-guard.conf', '[Unit]\nAssertPathIsMountPoint=/data\n');
    const asserted = systemctl('start', 'sleeper.service');
    write('etc/systemd/system/sleeper.service.d/10-guard.conf', '[Unit]\nRequiresMountsFor=/data\n');
    const required = systemctl('start', 'sleeper.service');
    write('etc/systemd/system/sleeper.service.d/10-guard.conf', '[Unit]\nConditionPathIsMountPoint=/data\n');
    const conditioned = systemctl('start', 'sleeper.service');

    expect(asserted.status).toBe(1);
    expect(asserted.stderr).toContain('Assertion failed on job for sleeper.service.');
    expect(required.status).toBe(1);
    expect(required.stderr).toContain('A dependency job for sleeper.service failed.');
    expect(conditioned.status).toBe(0);
    expect(systemctl('is-active', 'sleeper.service').stdout).toBe('inactive\n');
  });

  it('runs ExecStartPre first (a failure stops the start unless prefixed -) and starts Wants=/Requires= units', () => {
    write('lib/systemd/system/sleeper.service', SLEEPER);
    write(
      'etc/systemd/system/net.service',
      '[Service]\nType=oneshot\nExecStart=/bin/sh -c "echo net >>/order"\n',
    );
    write('etc/systemd/system/bad.service', '[Service]\nType=oneshot\nExecStart=/bin/false\n');
    write(
      'etc/systemd/system/sleeper.service.d/10-pre.conf',
      '[Unit]\nWants=net.service\n[Service]\nExecStartPre=-/bin/false\nExecStartPre=/bin/sh -c "echo pre >>/order"\n',
    );
    const started = systemctl('start', 'sleeper.service');
    const order = readFileSync(join(root, 'order'), 'utf8');
    systemctl('stop', 'sleeper.service');
    write('etc/systemd/system/sleeper.service.d/20-requires.conf', '[Unit]\nRequires=bad.service\n');
    const required = systemctl('start', 'sleeper.service');
    write('etc/systemd/system/sleeper.service.d/20-requires.conf', '[Service]\nExecStartPre=/bin/false\n');
    const failedPre = systemctl('start', 'sleeper.service');

    expect(started.status).toBe(0);
    expect(order).toBe('net\npre\n');
    expect(required).toMatchObject({ status: 1 });
    expect(required.stderr).toContain('A dependency job for sleeper.service failed.');
    expect(failedPre.status).toBe(1);
    expect(systemctl('is-active', 'sleeper.service').stdout).toBe('failed\n');
  });

  it('runs a oneshot to completion, fails a start whose daemon dies at once, and enables by WantedBy=', () => {
    const mark = join(root, 'mark');
    write(
      'etc/systemd/system/berth-node-network.service',
      `[Service]\nExecStart=/bin/sh -c "echo up >>/mark"\n`,
    );
    write('lib/systemd/system/broken.service', '[Service]\nExecStart=/bin/false\n');
    write('lib/systemd/system/sleeper.service', SLEEPER);

    const oneshot = systemctl('start', 'berth-node-network.service');
    const broken = systemctl('start', 'broken.service');
    const enabled = systemctl('enable', 'sleeper.service');

    expect(oneshot.status).toBe(0);
    expect(readFileSync(mark, 'utf8')).toBe('up\n');
    expect(broken.status).toBe(1);
    expect(enabled.status).toBe(0);
    expect(systemctl('is-enabled', 'sleeper.service')).toMatchObject({ status: 0, stdout: 'enabled\n' });
  });
});
