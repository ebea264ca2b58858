import { execFileSync } from 'node:child_process';
import { existsSync, readlinkSync } from 'node:fs';
import { LoopDevices, mountsBelow } from '../helpers/loop-devices';

const MiB = 1024 * 1024;
const sh = (command: string, ...args: string[]): string =>
  execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim();
const attachedFiles = (): string => sh('losetup', '-a');

describe('the loop-device fixture', () => {
  const fixtures: LoopDevices[] = [];
  const create = (): LoopDevices => {
    const loop = LoopDevices.create('fixture');
    fixtures.push(loop);
    return loop;
  };

  afterEach(() => {
    for (const loop of fixtures.splice(0)) {
      if (existsSync(loop.root)) loop.cleanup();
    }
  });

  it('links each volume by its fake EBS volume id, as Nitro instances do', () => {
    // Prepare
    const loop = create();

    // Act
    const volume = loop.createVolume({ sizeMiB: 64 });

    // Assess
    expect(volume.volumeId).toMatch(/^vol-0[0-9a-f]{16}$/);
    expect(volume.link).toBe(
      `${loop.deviceDir}/nvme-Amazon_Elastic_Block_Store_${volume.volumeId.replace('-', '')}`,
    );
    expect(readlinkSync(volume.link ?? '')).toBe(volume.device);
    expect(loop.deviceSize(volume)).toBe(64 * MiB);
  });

  it('enlarges a volume in place, and the kernel sees the new size', () => {
    // Prepare
    const loop = create();
    const volume = loop.createVolume({ sizeMiB: 64 });

    // Act
    loop.grow(volume, 192);

    // Assess
    expect(loop.deviceSize(volume)).toBe(192 * MiB);
  });

  it('clones a volume with its filesystem and UUID, as a snapshot restore does', () => {
    // Prepare
    const loop = create();
    const volume = loop.createVolume({ sizeMiB: 64 });
    sh('mkfs.ext4', '-q', volume.device);

    // Act
    const copy = loop.cloneVolume(volume);

    // Assess
    expect(copy.volumeId).not.toBe(volume.volumeId);
    expect(sh('blkid', '-p', '-s', 'UUID', '-o', 'value', copy.device)).toBe(
      sh('blkid', '-p', '-s', 'UUID', '-o', 'value', volume.device),
    );
  });

  it('cleans up every loop device, mount and file, even while a process keeps a mount busy', () => {
    // Prepare
    const loop = create();
    const volumes = [loop.createVolume({ sizeMiB: 160 }), loop.createVolume({ sizeMiB: 160 })];
    sh('mkfs.btrfs', '-q', volumes[0]?.device ?? '', volumes[1]?.device ?? '');
    const target = loop.mount(volumes[0]?.device ?? '', 'btrfs');
    loop.hold(target);

    // Act
    loop.cleanup();

    // Assess
    expect(mountsBelow(loop.root)).toEqual([]);
    expect(existsSync(loop.root)).toBe(false);
    for (const volume of volumes) expect(attachedFiles()).not.toContain(volume.file);
  });
});
