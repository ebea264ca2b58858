import { execFileSync, spawn } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { guardDropIn, HOST_FILES } from '../../lambdas/shared/contract';
import { parseScriptResult } from '../../lambdas/shared/documents';
import { assembledScriptPath } from '../helpers/assembled-scripts';
import {
  checksums,
  LoopDevices,
  writeSampleFiles,
  type LoopVolume,
} from '../helpers/loop-devices';

const sh = (command: string, ...args: string[]): string =>
  execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const probe = (device: string, tag: string): string => {
  try {
    return sh('blkid', '-p', '-s', tag, '-o', 'value', device);
  } catch {
    return '';
  }
};
const mountedFs = (target: string): string => {
  try {
    return sh('findmnt', '-n', '-o', 'FSTYPE', '--mountpoint', target);
  } catch {
    return '';
  }
};
const fstabLines = (loop: LoopDevices, mountPoint: string): string[] =>
  readFileSync(loop.fstab, 'utf8')
    .split('\n')
    .filter((line) => line.split(/\s+/)[1] === mountPoint);

/** Writes a DOS partition table with one Linux partition, as `fdisk` would. */
function writeDosPartitionTable(device: string): void {
  const mbr = Buffer.alloc(512);
  mbr.writeUInt8(0x83, 446 + 4); // partition type: Linux
  mbr.writeUInt32LE(2048, 446 + 8); // first sector
  mbr.writeUInt32LE(4096, 446 + 12); // sectors
  mbr.writeUInt16LE(0xaa55, 510);
  execFileSync('dd', [`of=${device}`, 'bs=512', 'count=1', 'conv=notrunc', 'status=none'], {
    input: mbr,
  });
}

const foreignSignatures: Array<[string, string, (device: string) => void]> = [
  ['a swap signature', 'TYPE', (device) => void sh('mkswap', device)],
  ['a partition table', 'PTTYPE', writeDosPartitionTable],
];

describe('prepare-node', () => {
  let loop: LoopDevices;

  beforeEach(() => {
    loop = LoopDevices.create('prepare-node');
  });

  afterEach(() => {
    loop.cleanup();
  });

  const params = (volumes: readonly LoopVolume[], extra: Record<string, string> = {}) => ({
    VolumeIds: volumes.map((v) => v.volumeId).join(','),
    DeviceNames: '',
    MountPoint: '/data',
    Filesystem: 'btrfs',
    NodeId: 'etcd-0',
    NetworkInterfaceId: 'eni-0123456789abcdef0',
    // The set's IP needs an interface with the ENI's MAC: the network suite below runs in a namespace.
    NodeIp: '',
    NodeMac: '',
    NodeSubnetCidr: '',
    EnvFile: '/etc/berth/node.env',
    ServiceUnit: 'etcd.service',
    ...extra,
  });

  /** Makes a filesystem by hand, writes files in it, unmounts it: a volume that carries data. */
  const volumeWithData = (fstype: 'btrfs' | 'ext4' | 'xfs', sizeMiB = 320) => {
    const volume = loop.createVolume({ sizeMiB });
    sh(`mkfs.${fstype}`, '-q', volume.device);
    const target = loop.mount(volume.device, fstype);
    writeSampleFiles(join(target, 'data'), 20);
    const sums = checksums(join(target, 'data'));
    loop.unmount(target);
    return { volume, sums, uuid: probe(volume.device, 'UUID') };
  };

  it('formats a blank volume, mounts it, persists the mount, writes the env file and starts the unit', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume]));

    // Assess
    expect(run.status).toBe(0);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    const uuid = probe(volume.device, 'UUID');
    expect(run.result).toMatchObject({
      ok: true,
      action: 'prepare-node',
      formatted: true,
      filesystem: 'btrfs',
      uuid,
      devices: [volume.device],
      volumeIds: [volume.volumeId],
      mountPoint: '/data',
      mount: 'mounted',
      fstab: 'added',
      envFile: 'written',
      unit: 'started',
    });
    expect(run.result?.sizeBytes).toBe(256 * 1024 * 1024);
    expect(probe(volume.device, 'TYPE')).toBe('btrfs');
    expect(mountedFs(loop.hostPath('/data'))).toBe('btrfs');
    expect(fstabLines(loop, '/data')).toEqual([`UUID=${uuid} /data btrfs defaults,nofail 0 0`]);
    expect(readFileSync(loop.hostPath('/etc/berth/node.env'), 'utf8')).toBe(
      [
        'NODE_ID=etcd-0',
        'NODE_IP=',
        `VOLUME_IDS=${volume.volumeId}`,
        'NETWORK_INTERFACE_ID=eni-0123456789abcdef0',
        'MOUNT_POINT=/data',
        '',
      ].join('\n'),
    );
    expect(loop.systemctlCalls()).toEqual(['daemon-reload', 'start -- etcd.service']);
    expect(readFileSync(loop.hostPath(`/etc/systemd/system/etcd.service.d/${HOST_FILES.guardDropIn}`), 'utf8')).toBe(
      guardDropIn('/data'),
    );
    expect(readFileSync(loop.hostPath(`/etc/systemd/system/etcd.service.d/${HOST_FILES.setDropIn}`), 'utf8')).toBe(
      '[Unit]\nRequiresMountsFor=/data\n',
    );
  });

  it('changes nothing when run a second time', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });
    const first = loop.runScript('prepare-node.sh', params([volume]));
    writeSampleFiles(loop.hostPath('/data/app'), 10);
    const sums = checksums(loop.hostPath('/data/app'));

    // Act
    const second = loop.runScript('prepare-node.sh', params([volume]));

    // Assess
    expect(first.result?.ok).toBe(true);
    expect(second.status).toBe(0);
    expect(second.result).toMatchObject({
      ok: true,
      formatted: false,
      uuid: first.result?.uuid,
      mount: 'already-mounted',
      fstab: 'unchanged',
      envFile: 'unchanged',
    });
    expect(fstabLines(loop, '/data')).toHaveLength(1);
    expect(checksums(loop.hostPath('/data/app'))).toEqual(sums);
    expect(loop.systemctlCalls()).toEqual([
      'daemon-reload',
      'start -- etcd.service',
      'start -- etcd.service',
    ]);
  });

  it.each(['btrfs', 'ext4', 'xfs'] as const)(
    'never formats a %s volume that carries data: it mounts it and the files keep their checksums',
    (fstype) => {
      // Prepare
      const { volume, sums, uuid } = volumeWithData(fstype);

      // Act
      const run = loop.runScript('prepare-node.sh', params([volume], { Filesystem: fstype }));

      // Assess
      expect(run.status).toBe(0);
      expect(run.result).toMatchObject({ ok: true, formatted: false, uuid, filesystem: fstype });
      expect(probe(volume.device, 'UUID')).toBe(uuid);
      expect(mountedFs(loop.hostPath('/data'))).toBe(fstype);
      expect(checksums(loop.hostPath('/data/data'))).toEqual(sums);
      expect(fstabLines(loop, '/data')).toEqual([
        `UUID=${uuid} /data ${fstype} defaults,nofail 0 ${fstype === 'ext4' ? 2 : 0}`,
      ]);
    },
  );

  it('refuses a set that mixes a volume with data and a blank one, and formats neither', () => {
    // Prepare
    const { volume: data, sums, uuid } = volumeWithData('btrfs', 256);
    const blank = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = loop.runScript('prepare-node.sh', params([data, blank]));

    // Assess
    expect(run.status).toBe(3);
    expect(run.result).toMatchObject({ ok: false, action: 'prepare-node', code: 'refused' });
    expect(String(run.result?.error)).toMatch(/mixes blank volumes and volumes with data/);
    expect(run.stderr).toMatch(/refusing to format/);
    expect(probe(blank.device, 'TYPE')).toBe('');
    expect(probe(data.device, 'UUID')).toBe(uuid);
    expect(mountedFs(loop.hostPath('/data'))).toBe('');
    expect(existsSync(loop.fstab)).toBe(false);
    expect(loop.systemctlCalls()).toEqual([]);
    const target = loop.mount(data.device, 'btrfs');
    expect(checksums(join(target, 'data'))).toEqual(sums);
  });

  it('refuses a volume whose filesystem is not the configured one, and leaves it as it was', () => {
    // Prepare
    const { volume, uuid } = volumeWithData('ext4');

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume], { Filesystem: 'xfs' }));

    // Assess
    expect(run.status).toBe(3);
    expect(run.result).toMatchObject({ ok: false, code: 'refused' });
    expect(String(run.result?.error)).toMatch(/carries a ext4 filesystem .*not xfs/);
    expect(probe(volume.device, 'TYPE')).toBe('ext4');
    expect(probe(volume.device, 'UUID')).toBe(uuid);
    expect(mountedFs(loop.hostPath('/data'))).toBe('');
  });

  it.each(foreignSignatures)('refuses a volume that carries %s and leaves it as it was', (_what, tag, write) => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 64 });
    write(volume.device);
    const before = probe(volume.device, tag);

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume]));

    // Assess
    expect(before).not.toBe('');
    expect(run.status).toBe(3);
    expect(run.result).toMatchObject({ ok: false, code: 'refused' });
    expect(probe(volume.device, tag)).toBe(before);
    expect(probe(volume.device, 'TYPE')).not.toBe('btrfs');
    expect(mountedFs(loop.hostPath('/data'))).toBe('');
  });

  it('makes one multi-device btrfs of a blank set of three volumes and mounts it by UUID', () => {
    // Prepare
    const volumes = [128, 128, 128].map((sizeMiB) => loop.createVolume({ sizeMiB }));

    // Act
    const run = loop.runScript('prepare-node.sh', params(volumes));

    // Assess
    expect(run.status).toBe(0);
    const uuid = probe(volumes[0]!.device, 'UUID');
    expect(run.result).toMatchObject({
      ok: true,
      formatted: true,
      uuid,
      devices: volumes.map((v) => v.device),
      sizeBytes: 3 * 128 * 1024 * 1024,
    });
    for (const volume of volumes) expect(probe(volume.device, 'UUID')).toBe(uuid);
    expect(sh('btrfs', 'filesystem', 'show', '--raw', uuid)).toMatch(/Total devices 3/);
    expect(mountedFs(loop.hostPath('/data'))).toBe('btrfs');
    expect(fstabLines(loop, '/data')).toEqual([`UUID=${uuid} /data btrfs defaults,nofail 0 0`]);
    expect(readFileSync(loop.hostPath('/etc/berth/node.env'), 'utf8')).toContain(
      `VOLUME_IDS=${volumes.map((v) => v.volumeId).join(',')}\n`,
    );
  });

  it('mounts a multi-device btrfs with data again after it was unmounted, as a replacement instance does', () => {
    // Prepare
    const volumes = [128, 128].map((sizeMiB) => loop.createVolume({ sizeMiB }));
    const first = loop.runScript('prepare-node.sh', params(volumes));
    writeSampleFiles(loop.hostPath('/data/app'), 20);
    const sums = checksums(loop.hostPath('/data/app'));
    sh('umount', loop.hostPath('/data'));

    // Act
    const run = loop.runScript('prepare-node.sh', params(volumes));

    // Assess
    expect(first.result?.formatted).toBe(true);
    expect(run.result).toMatchObject({ ok: true, formatted: false, mount: 'mounted', fstab: 'unchanged' });
    expect(run.result?.uuid).toBe(first.result?.uuid);
    expect(checksums(loop.hostPath('/data/app'))).toEqual(sums);
  });

  it('refuses to mount a btrfs whose second volume is missing, instead of mounting it degraded', () => {
    // Prepare: a two-volume set with data, unmounted; then its second volume is gone
    const volumes = [128, 128].map((sizeMiB) => loop.createVolume({ sizeMiB }));
    expect(loop.runScript('prepare-node.sh', params(volumes)).result).toMatchObject({ ok: true });
    writeSampleFiles(loop.hostPath('/data/app'), 5);
    sh('umount', loop.hostPath('/data'));
    const [primary, second] = volumes as [LoopVolume, LoopVolume];
    loop.detachVolume(second);
    sh('btrfs', 'device', 'scan', '--forget', primary.device);

    // Act: the next holder is given the primary only
    const run = loop.runScript('prepare-node.sh', params([primary]));

    // Assess
    expect(run.status).toBe(3);
    expect(run.result).toMatchObject({ ok: false, code: 'refused', missingDevices: 1 });
    expect(String(run.result?.error)).toMatch(/has 2 devices and only 1 are here .*refusing to mount it degraded/);
    expect(mountedFs(loop.hostPath('/data'))).toBe('');
    expect(loop.systemctlCalls().filter((c) => c.startsWith('start'))).toEqual(['start -- etcd.service']);
  });

  it('keeps other fstab lines, replaces a stale line for the mount point and never duplicates its own', () => {
    // Prepare
    mkdirSync(dirname(loop.fstab), { recursive: true });
    const others = ['# static file system information', 'UUID=1111-2222 / ext4 defaults 0 1'];
    writeFileSync(
      loop.fstab,
      [...others, 'UUID=0000-dead-beef /data btrfs defaults 0 0', '/dev/sdz /other xfs defaults 0 0', ''].join(
        '\n',
      ),
    );
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const first = loop.runScript('prepare-node.sh', params([volume]));
    const second = loop.runScript('prepare-node.sh', params([volume]));

    // Assess
    expect(first.result).toMatchObject({ ok: true, fstab: 'replaced' });
    expect(second.result).toMatchObject({ ok: true, fstab: 'unchanged' });
    const lines = readFileSync(loop.fstab, 'utf8').split('\n').filter(Boolean);
    expect(lines).toEqual([
      ...others,
      '/dev/sdz /other xfs defaults 0 0',
      `UUID=${String(first.result?.uuid)} /data btrfs defaults,nofail 0 0`,
    ]);
  });

  it('writes the fstab that BERTH_FSTAB names', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });
    const fstab = join(loop.root, 'elsewhere', 'fstab');

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume]), { BERTH_FSTAB: fstab });

    // Assess
    expect(run.result).toMatchObject({ ok: true, fstab: 'added' });
    expect(readFileSync(fstab, 'utf8')).toBe(
      `UUID=${String(run.result?.uuid)} /data btrfs defaults,nofail 0 0\n`,
    );
    expect(existsSync(loop.fstab)).toBe(false);
  });

  it('replaces the env file by rename when its content changes, leaving no temporary file', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });
    loop.runScript('prepare-node.sh', params([volume]));
    const envFile = loop.hostPath('/etc/berth/node.env');
    const inodeBefore = statSync(envFile).ino;

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume], { NodeId: 'etcd-9' }));

    // Assess
    expect(run.result).toMatchObject({ ok: true, envFile: 'written' });
    expect(statSync(envFile).ino).not.toBe(inodeBefore);
    expect(readFileSync(envFile, 'utf8')).toContain('NODE_ID=etcd-9\n');
    expect(statSync(envFile).mode & 0o777).toBe(0o644);
    expect(readdirSync(dirname(envFile))).toEqual(['node.env']);
  });

  it('finds a volume by the device name it was attached as when there is no by-id link', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256, link: false });
    const devDir = join(loop.root, 'dev');
    mkdirSync(devDir, { recursive: true });
    symlinkSync(volume.device, join(devDir, 'xvdg'));

    // Act: attached as /dev/sdg, the kernel named it xvdg
    const run = loop.runScript('prepare-node.sh', params([volume], { DeviceNames: '/dev/sdg' }), {
      BERTH_DEV_DIR: devDir,
    });

    // Assess
    expect(run.result).toMatchObject({ ok: true, formatted: true, devices: [volume.device] });
  });

  it('waits a bounded time for a volume that appears late', async () => {
    // Prepare: the volume exists, its by-id link shows up a second after the script starts
    const volume = loop.createVolume({ sizeMiB: 256, link: false });
    const link = join(loop.deviceDir, `nvme-Amazon_Elastic_Block_Store_${volume.volumeId.replace('-', '')}`);
    const env = loop.env(params([volume]), { BERTH_DEVICE_WAIT_SECONDS: '20' });

    // Act
    const child = spawn('bash', [assembledScriptPath('prepare-node.sh')], { env });
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    setTimeout(() => symlinkSync(volume.device, link), 1000);
    const status = await exited;

    // Assess
    expect(status).toBe(0);
    expect(parseScriptResult(stdout)).toMatchObject({ ok: true, formatted: true, devices: [volume.device] });
  });

  it('fails with the paths it looked for when a volume never appears', () => {
    // Prepare
    const volumeId = 'vol-0aaaaaaaaaaaaaaa1';

    // Act
    const run = loop.runScript('prepare-node.sh', {
      ...params([]),
      VolumeIds: volumeId,
      DeviceNames: '/dev/sdp',
    });

    // Assess
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, code: 'failed' });
    expect(String(run.result?.error)).toContain('nvme-Amazon_Elastic_Block_Store_vol0aaaaaaaaaaaaaaa1');
    expect(String(run.result?.error)).toContain('/dev/xvdp');
  });

  it('prepares a scratch volume without env file, interface or unit', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = loop.runScript(
      'prepare-node.sh',
      params([volume], { NodeId: '', NetworkInterfaceId: '', NodeIp: '', EnvFile: '', ServiceUnit: '', Filesystem: 'ext4' }),
    );

    // Assess
    expect(run.result).toMatchObject({
      ok: true,
      formatted: true,
      filesystem: 'ext4',
      envFile: 'none',
      network: 'none',
      dropIns: 'none',
      unit: 'none',
    });
    expect(loop.systemctlCalls()).toEqual(['daemon-reload']);
  });

  it('refuses to mount over another filesystem already mounted at the mount point', () => {
    // Prepare
    const other = loop.createVolume({ sizeMiB: 256 });
    sh('mkfs.ext4', '-q', other.device);
    mkdirSync(loop.hostPath('/data'), { recursive: true });
    sh('mount', other.device, loop.hostPath('/data'));
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume]));

    // Assess
    expect(run.status).toBe(3);
    expect(String(run.result?.error)).toMatch(/already has .* mounted/);
    expect(mountedFs(loop.hostPath('/data'))).toBe('ext4');
  });

  it('turns an unexpected tool failure into one ok:false JSON line that names the failing line', () => {
    // Prepare: an lsblk that fails, first on the PATH
    const volume = loop.createVolume({ sizeMiB: 256 });
    const bin = join(loop.root, 'broken-bin');
    mkdirSync(bin);
    writeFileSync(join(bin, 'lsblk'), '#!/bin/sh\necho "lsblk: broken" >&2\nexit 1\n', { mode: 0o755 });

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume]), {
      PATH: `${bin}:${process.env.PATH ?? ''}`,
    });

    // Assess
    expect(run.status).toBe(1);
    expect(run.stdout.trim().split('\n')).toHaveLength(1);
    expect(run.result).toMatchObject({ ok: false, action: 'prepare-node', code: 'failed' });
    expect(String(run.result?.error)).toMatch(/^unexpected failure at line \d+ \(exit 1\): .*lsblk/);
    expect(probe(volume.device, 'TYPE')).toBe('');
  });

  it('reports a unit that fails to start as a failure', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = loop.runScript('prepare-node.sh', params([volume]), { FAKE_SYSTEMCTL_EXIT: '1' });

    // Assess
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, code: 'failed', error: 'could not start etcd.service' });
    expect(mountedFs(loop.hostPath('/data'))).toBe('btrfs');
  });
});
