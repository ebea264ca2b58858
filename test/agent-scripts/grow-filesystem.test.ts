import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  checksums,
  LoopDevices,
  writeSampleFiles,
  type LoopVolume,
} from '../helpers/loop-devices';

const MiB = 1024 * 1024;

/** Online ext4 resize needs CAP_SYS_RESOURCE: root on EC2 has it, some containers do not. */
function hasCapSysResource(): boolean {
  const status = readFileSync('/proc/self/status', 'utf8');
  const caps = /^CapEff:\s*([0-9a-f]+)$/m.exec(status)?.[1];
  return caps !== undefined && ((BigInt(`0x${caps}`) >> 24n) & 1n) === 1n;
}
const canResizeExt4Online = hasCapSysResource();
const sh = (command: string, ...args: string[]): string =>
  execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const dfSize = (target: string): number =>
  Number(sh('df', '-B1', '--output=size', target).split('\n')[1]?.trim());
const probe = (device: string, tag: string): string => {
  try {
    return sh('blkid', '-p', '-s', tag, '-o', 'value', device);
  } catch {
    return '';
  }
};

describe('grow-filesystem', () => {
  let loop: LoopDevices;

  beforeEach(() => {
    loop = LoopDevices.create('grow-filesystem');
  });

  afterEach(() => {
    loop.cleanup();
  });

  /** A prepared node: its filesystem made and mounted by prepare-node, with some files in it. */
  const preparedNode = (filesystem: 'btrfs' | 'ext4' | 'xfs', sizeMiB: number) => {
    const volume = loop.createVolume({ sizeMiB });
    const prepared = loop.runScript('prepare-node.sh', {
      VolumeIds: volume.volumeId,
      DeviceNames: '',
      MountPoint: '/data',
      Filesystem: filesystem,
      NodeId: 'kafka-1',
      NetworkInterfaceId: '',
      NodeIp: '',
      EnvFile: '',
      ServiceUnit: '',
    });
    if (!prepared.result?.ok) throw new Error(`prepare-node failed: ${prepared.stderr}`);
    writeSampleFiles(loop.hostPath('/data/app'), 30, 8192);
    return { volume, sums: checksums(loop.hostPath('/data/app')) };
  };
  const grow = (mode: 'add-device' | 'expand', volume: LoopVolume, mountPoint = '/data') =>
    loop.runScript('grow-filesystem.sh', {
      Mode: mode,
      VolumeId: volume.volumeId,
      DeviceName: '',
      MountPoint: mountPoint,
    });

  it('grows a btrfs by a second and a third device, keeping the data, and df shows the new size', () => {
    // Prepare
    const { volume, sums } = preparedNode('btrfs', 256);
    const second = loop.createVolume({ sizeMiB: 256 });
    const third = loop.createVolume({ sizeMiB: 512 });
    const sizeBefore = dfSize(loop.hostPath('/data'));

    // Act
    const runs = [grow('add-device', second), grow('add-device', third)];

    // Assess
    expect(runs.map((run) => run.status)).toEqual([0, 0]);
    expect(runs.map((run) => run.stdout.trim().split('\n').length)).toEqual([1, 1]);
    const uuid = probe(volume.device, 'UUID');
    expect(runs[0]?.result).toMatchObject({
      ok: true,
      action: 'grow-filesystem',
      mode: 'add-device',
      filesystem: 'btrfs',
      uuid,
      added: true,
      devid: 2,
      devices: 2,
      device: second.device,
      metadataProfile: 'DUP',
      metadataStep: 'none',
      sizeBytesBefore: 256 * MiB,
      sizeBytes: 512 * MiB,
      grewBytes: 256 * MiB,
    });
    expect(runs[1]?.result).toMatchObject({ ok: true, added: true, devid: 3, devices: 3 });
    expect(sizeBefore).toBe(256 * MiB);
    expect(dfSize(loop.hostPath('/data'))).toBe(1024 * MiB);
    expect(probe(third.device, 'UUID')).toBe(uuid);
    expect(checksums(loop.hostPath('/data/app'))).toEqual(sums);
  });

  it('adds a device smaller than 256 MiB, which the kernel would refuse to resize', () => {
    // Prepare
    preparedNode('btrfs', 256);
    const small = loop.createVolume({ sizeMiB: 160 });

    // Act
    const run = grow('add-device', small);

    // Assess
    expect(run.status).toBe(0);
    expect(run.result).toMatchObject({ ok: true, added: true, devid: 2, grewBytes: 160 * MiB });
  });

  it('treats a device that is already a member as a no-op', () => {
    // Prepare
    preparedNode('btrfs', 256);
    const second = loop.createVolume({ sizeMiB: 256 });
    const first = grow('add-device', second);

    // Act
    const again = grow('add-device', second);

    // Assess
    expect(first.result).toMatchObject({ ok: true, added: true });
    expect(again.status).toBe(0);
    expect(again.result).toMatchObject({
      ok: true,
      added: false,
      devid: 2,
      devices: 2,
      sizeBytes: 512 * MiB,
    });
    expect(dfSize(loop.hostPath('/data'))).toBe(512 * MiB);
  });

  it('refuses to add a device that carries another filesystem, and leaves it as it was', () => {
    // Prepare
    preparedNode('btrfs', 256);
    const foreign = loop.createVolume({ sizeMiB: 256 });
    sh('mkfs.ext4', '-q', foreign.device);
    const foreignUuid = probe(foreign.device, 'UUID');

    // Act
    const run = grow('add-device', foreign);

    // Assess
    expect(run.status).toBe(3);
    expect(run.result).toMatchObject({
      ok: false,
      action: 'grow-filesystem',
      code: 'refused',
      joined: false,
    });
    expect(String(run.result?.error)).toMatch(/carries a ext4 filesystem/);
    expect(probe(foreign.device, 'UUID')).toBe(foreignUuid);
    expect(sh('btrfs', 'filesystem', 'show', '--raw', loop.hostPath('/data'))).toMatch(
      /Total devices 1/,
    );
  });

  it('says the device joined when it fails after adding it, so that the caller keeps the volume', () => {
    // Prepare: a btrfs command whose `filesystem df` fails, first on the PATH
    preparedNode('btrfs', 256);
    const second = loop.createVolume({ sizeMiB: 256 });
    const bin = join(loop.root, 'broken-bin');
    mkdirSync(bin);
    const realBtrfs = sh('sh', '-c', 'command -v btrfs');
    writeFileSync(
      join(bin, 'btrfs'),
      `#!/bin/sh\nif [ "$1" = filesystem ] && [ "$2" = df ]; then echo broken >&2; exit 1; fi\nexec ${realBtrfs} "$@"\n`,
      { mode: 0o755 },
    );

    // Act
    const run = loop.runScript(
      'grow-filesystem.sh',
      { Mode: 'add-device', VolumeId: second.volumeId, DeviceName: '', MountPoint: '/data' },
      { PATH: `${bin}:${process.env.PATH ?? ''}` },
    );

    // Assess
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, code: 'failed', joined: true });
    expect(sh('btrfs', 'filesystem', 'show', '--raw', loop.hostPath('/data'))).toMatch(
      /Total devices 2/,
    );
  });

  it('refuses to add a device to an ext4 filesystem', () => {
    // Prepare
    preparedNode('ext4', 256);
    const second = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = grow('add-device', second);

    // Assess
    expect(run.status).toBe(3);
    expect(String(run.result?.error)).toMatch(/add-device needs btrfs/);
    expect(probe(second.device, 'TYPE')).toBe('');
  });

  it('fails clearly when nothing is mounted at the mount point', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = grow('add-device', volume, '/nothing');

    // Assess
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, code: 'failed' });
    expect(String(run.result?.error)).toMatch(/nothing is mounted at .*\/nothing/);
    expect(probe(volume.device, 'TYPE')).toBe('');
    // A blank device is in no filesystem: the caller may remove it (a quiesced host, issue 13).
    expect(run.result).toMatchObject({ joined: false });
  });

  it('does not say a device with a filesystem stayed out when nothing is mounted', () => {
    // Prepare: a device that carries a btrfs (it may be a member of the unmounted filesystem).
    const volume = loop.createVolume({ sizeMiB: 256 });
    execFileSync('mkfs.btrfs', ['-q', volume.device]);

    // Act
    const run = grow('add-device', volume, '/nothing');

    // Assess
    expect(run.result).toMatchObject({ ok: false, code: 'failed' });
    expect(run.result).not.toHaveProperty('joined');
  });

  it.each([
    ['btrfs', 256, 512],
    ...(canResizeExt4Online ? ([['ext4', 256, 512]] as const) : []),
    ['xfs', 320, 640],
  ] as const)(
    'grows a %s in place after its volume was enlarged, keeping the data',
    (filesystem, fromMiB, toMiB) => {
      // Prepare
      const { volume, sums } = preparedNode(filesystem, fromMiB);
      const sizeBefore = dfSize(loop.hostPath('/data'));
      loop.grow(volume, toMiB);

      // Act
      const run = grow('expand', volume);
      const again = grow('expand', volume);

      // Assess
      expect(loop.deviceSize(volume)).toBe(toMiB * MiB);
      expect(run.status).toBe(0);
      expect(run.result).toMatchObject({
        ok: true,
        action: 'grow-filesystem',
        mode: 'expand',
        filesystem,
        sizeBytesBefore: sizeBefore,
      });
      const sizeAfter = dfSize(loop.hostPath('/data'));
      expect(run.result?.sizeBytes).toBe(sizeAfter);
      // ext4 and xfs keep some space for their own metadata: compare the growth
      expect(sizeAfter - sizeBefore).toBeGreaterThan((toMiB - fromMiB) * MiB * 0.95);
      expect(again.result).toMatchObject({ ok: true, sizeBytesBefore: sizeAfter, sizeBytes: sizeAfter });
      expect(checksums(loop.hostPath('/data/app'))).toEqual(sums);
    },
  );

  if (!canResizeExt4Online) {
    it('says why it cannot grow an ext4 online where the kernel denies it (no CAP_SYS_RESOURCE here), and leaves it intact', () => {
      // Prepare
      console.warn(
        'grow-filesystem: this process lacks CAP_SYS_RESOURCE, so online ext4 growth is checked for its clear refusal only',
      );
      const { volume, sums } = preparedNode('ext4', 256);
      const sizeBefore = dfSize(loop.hostPath('/data'));
      loop.grow(volume, 512);

      // Act
      const run = grow('expand', volume);

      // Assess
      expect(run.status).toBe(1);
      expect(run.result).toMatchObject({ ok: false, code: 'failed' });
      expect(String(run.result?.error)).toMatch(/online ext4 resize needs CAP_SYS_RESOURCE/);
      expect(dfSize(loop.hostPath('/data'))).toBe(sizeBefore);
      expect(checksums(loop.hostPath('/data/app'))).toEqual(sums);
    });
  }

  it('refuses to expand with a volume that is not the mounted filesystem', () => {
    // Prepare
    preparedNode('xfs', 320);
    const other = loop.createVolume({ sizeMiB: 320 });

    // Act
    const run = grow('expand', other);

    // Assess
    expect(run.status).toBe(3);
    expect(String(run.result?.error)).toMatch(/is not the device of the xfs/);
  });
});
