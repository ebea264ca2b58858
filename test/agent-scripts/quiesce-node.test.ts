import { execFileSync } from 'node:child_process';
import { LoopDevices } from '../helpers/loop-devices';

const mountedFs = (target: string): string => {
  try {
    return execFileSync('findmnt', ['-n', '-o', 'FSTYPE', '--mountpoint', target], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    }).trim();
  } catch {
    return '';
  }
};

describe('quiesce-node', () => {
  let loop: LoopDevices;

  beforeEach(() => {
    loop = LoopDevices.create('quiesce-node');
  });

  afterEach(() => {
    loop.cleanup();
  });

  const prepare = (volumeCount = 1) => {
    const volumes = Array.from({ length: volumeCount }, () => loop.createVolume({ sizeMiB: 160 }));
    const run = loop.runScript('prepare-node.sh', {
      VolumeIds: volumes.map((v) => v.volumeId).join(','),
      DeviceNames: '',
      MountPoint: '/var/lib/zookeeper',
      Filesystem: 'btrfs',
      NodeId: 'zk-2',
      NetworkInterfaceId: '',
      NodeIp: '',
      EnvFile: '',
      ServiceUnit: '',
    });
    if (!run.result?.ok) throw new Error(`prepare-node failed: ${run.stderr}`);
    return volumes;
  };
  const quiesce = (timeoutSeconds = '5', unit = 'zookeeper.service') =>
    loop.runScript('quiesce-node.sh', {
      MountPoint: '/var/lib/zookeeper',
      ServiceUnit: unit,
      TimeoutSeconds: timeoutSeconds,
    });

  it('stops the unit, then unmounts the mount point of a multi-device btrfs', () => {
    // Prepare
    prepare(2);

    // Act
    const run = quiesce();

    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(run.result).toMatchObject({
      ok: true,
      action: 'quiesce-node',
      mountPoint: '/var/lib/zookeeper',
      wasMounted: true,
      unmounted: true,
      unit: 'stopped',
    });
    expect(mountedFs(loop.hostPath('/var/lib/zookeeper'))).toBe('');
    expect(loop.systemctlCalls()).toContain('stop -- zookeeper.service');
  });

  it('succeeds without doing anything when nothing is mounted (a second run)', () => {
    // Prepare
    prepare();
    quiesce();

    // Act
    const run = quiesce('5', '');

    // Assess
    expect(run.status).toBe(0);
    expect(run.result).toMatchObject({
      ok: true,
      wasMounted: false,
      unmounted: false,
      unit: 'none',
    });
  });

  it('reports the processes that hold a busy mount, and leaves it mounted', () => {
    // Prepare
    prepare();
    const holder = loop.hold(loop.hostPath('/var/lib/zookeeper'));

    // Act
    const run = quiesce('1');

    // Assess
    expect(run.status).toBe(4);
    expect(run.result).toMatchObject({
      ok: false,
      action: 'quiesce-node',
      code: 'busy',
      mountPoint: '/var/lib/zookeeper',
    });
    expect(run.result?.holders).toEqual(
      expect.arrayContaining([{ pid: holder.pid, command: 'sleep' }]),
    );
    expect(String(run.result?.error)).toMatch(/still mounted after 1s/);
    expect(mountedFs(loop.hostPath('/var/lib/zookeeper'))).toBe('btrfs');
  });

  it('waits for a holder that lets go within the timeout, then unmounts', () => {
    // Prepare
    prepare();
    loop.hold(loop.hostPath('/var/lib/zookeeper'), 1.5);

    // Act
    const run = quiesce('20');

    // Assess
    expect(run.status).toBe(0);
    expect(run.result).toMatchObject({ ok: true, wasMounted: true, unmounted: true });
    expect(Number(run.result?.attempts)).toBeGreaterThan(1);
    expect(mountedFs(loop.hostPath('/var/lib/zookeeper'))).toBe('');
  });

  it('goes on to unmount when the unit fails to stop', () => {
    // Prepare
    prepare();

    // Act
    const run = loop.runScript(
      'quiesce-node.sh',
      { MountPoint: '/var/lib/zookeeper', ServiceUnit: 'zookeeper.service', TimeoutSeconds: '' },
      { FAKE_SYSTEMCTL_EXIT: '5' },
    );

    // Assess
    expect(run.result).toMatchObject({ ok: true, unmounted: true, unit: 'stop-failed' });
    expect(run.stderr).toMatch(/stop zookeeper.service' failed/);
  });
});
