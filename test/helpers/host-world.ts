/**
 * The hosts of the local cloud, on this machine: every EBS volume of the cloud is backed by a loop
 * device (created when the volume comes into existence, enlarged when a modification makes a new
 * size usable), and every instance has its own stand-in for `/dev/disk/by-id` (symlinks
 * `nvme-Amazon_Elastic_Block_Store_vol<hex>` to the loop devices of the volumes attached to it,
 * refreshed before each command) and its own root folder (mount point, fstab, env file).
 *
 * Used by the demo and the end-to-end tests through the ShellExecutor's `envFor`.
 * Needs root; `LoopDevices.create` says clearly why when loop devices are unavailable.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readlinkSync, rmSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import type { LocalCloud } from '../../local-cloud/src';
import type { LocalVolume } from '../../local-cloud/src/ec2';
import { LoopDevices, mountsBelow, type LoopVolume } from './loop-devices';

export interface HostWorldOptions {
  /** MiB of loop file per GiB of EBS volume: 20 GiB → 300 MiB by default (sparse). */
  mibPerGiB?: number;
  /** Prefix of the temporary directory. */
  name?: string;
  /** Seconds a script waits for a device to appear (they appear at attach time here). @default 5 */
  deviceWaitSeconds?: number;
}

export class HostWorld {
  readonly loops: LoopDevices;
  readonly mibPerGiB: number;
  private readonly backing = new Map<string, LoopVolume>();
  private readonly deviceWaitSeconds: number;
  /** Errors raised inside the EC2 hooks (a hook cannot throw into the model's API call). */
  readonly hookErrors: string[] = [];

  private constructor(
    readonly cloud: LocalCloud,
    options: HostWorldOptions,
  ) {
    this.loops = LoopDevices.create(options.name ?? 'berth-world');
    this.mibPerGiB = options.mibPerGiB ?? 15;
    this.deviceWaitSeconds = options.deviceWaitSeconds ?? 5;
  }

  /** Creates the world and plugs it into the cloud's EC2 hooks (volume created / enlarged). */
  static create(cloud: LocalCloud, options: HostWorldOptions = {}): HostWorld {
    const world = new HostWorld(cloud, options);
    const previous = { ...cloud.ec2.hooks };
    cloud.ec2.hooks.volumeCreated = (volume) => {
      world.onVolumeCreated(volume);
      previous.volumeCreated?.(volume);
    };
    cloud.ec2.hooks.volumeModified = (volume, size) => {
      world.onVolumeModified(volume, size);
      previous.volumeModified?.(volume, size);
    };
    return world;
  }

  get root(): string {
    return this.loops.root;
  }

  /** The loop device behind a volume. */
  loop(volumeId: string): LoopVolume | undefined {
    return this.backing.get(volumeId);
  }

  /** Folder of an instance (its by-id and host root live below). */
  instanceDir(instanceId: string): string {
    return join(this.loops.root, 'instances', instanceId);
  }

  /** The host path of a path on an instance (`/data` → `<root>/instances/<id>/host/data`). */
  hostPath(instanceId: string, path: string): string {
    return join(this.instanceDir(instanceId), 'host', path);
  }

  /**
   * The environment the SSM agent of an instance gives a script: its device folder (refreshed now
   * from the volumes attached to it), its root folder, the fixture's fake systemctl, no waits for
   * a network interface (the ENI's IP is not configured on this machine).
   */
  envFor(instanceId: string): Record<string, string> {
    const deviceDir = this.refreshDevices(instanceId);
    const hostRoot = join(this.instanceDir(instanceId), 'host');
    const procSys = join(this.instanceDir(instanceId), 'proc-sys');
    mkdirSync(hostRoot, { recursive: true });
    mkdirSync(procSys, { recursive: true });
    return {
      BERTH_DEVICE_DIR: deviceDir,
      BERTH_HOST_ROOT: hostRoot,
      BERTH_SYSTEMCTL: this.loops.systemctl,
      BERTH_PROC_SYS: procSys,
      BERTH_DEVICE_WAIT_SECONDS: String(this.deviceWaitSeconds),
      BERTH_IFACE_WAIT_SECONDS: '0',
      LANG: 'C',
    };
  }

  /** Makes the instance's by-id folder list exactly the volumes attached to it now. */
  refreshDevices(instanceId: string): string {
    const dir = join(this.instanceDir(instanceId), 'by-id');
    mkdirSync(dir, { recursive: true });
    const wanted = new Map<string, string>();
    for (const attached of this.cloud.ec2.instance(instanceId)?.volumes ?? []) {
      if (attached.state !== 'attached') continue;
      const loop = this.backing.get(attached.volumeId);
      if (loop)
        wanted.set(`nvme-Amazon_Elastic_Block_Store_${attached.volumeId.replace('-', '')}`, loop.device);
    }
    for (const entry of readdirSync(dir)) {
      const path = join(dir, entry);
      if (wanted.get(entry) !== readlinkSync(path)) rmSync(path, { force: true });
    }
    for (const [entry, device] of wanted) {
      const path = join(dir, entry);
      if (!existsSync(path)) symlinkSync(device, path);
    }
    return dir;
  }

  /**
   * The instance is gone (terminated): whatever it still had mounted is released, as the end of
   * the machine releases it. Returns the mount points that were still there.
   */
  releaseHost(instanceId: string): string[] {
    const left = mountsBelow(this.instanceDir(instanceId));
    for (const target of left) {
      let out = spawnSync('umount', [target], { encoding: 'utf8' });
      if (out.status !== 0) {
        spawnSync('fuser', ['-km', target]);
        out = spawnSync('umount', ['-l', target], { encoding: 'utf8' });
      }
      if (out.status !== 0) this.hookErrors.push(`umount ${target}: ${out.stderr.trim()}`);
    }
    return left;
  }

  /** Bytes of the filesystem mounted at an instance's path (`df`), or undefined if none. */
  df(
    instanceId: string,
    path: string,
  ): { sizeBytes: number; usedBytes: number; usedPercent: number; fstype: string } | undefined {
    const target = this.hostPath(instanceId, path);
    if (!mountsBelow(target).includes(target)) return undefined;
    const out = spawnSync('df', ['-B1', '--output=size,used,avail,pcent,fstype', target], {
      encoding: 'utf8',
    });
    const line = out.stdout.trim().split('\n')[1];
    if (out.status !== 0 || !line) return undefined;
    const [size, used, avail, , fstype] = line.trim().split(/\s+/);
    const sizeBytes = Number(size);
    const usedBytes = Number(used);
    const availBytes = Number(avail);
    // As the CloudWatch agent computes disk_used_percent: used / (used + available).
    const usedPercent = (100 * usedBytes) / Math.max(1, usedBytes + availBytes);
    return { sizeBytes, usedBytes, usedPercent, fstype: fstype ?? '' };
  }

  /** Whether something is mounted at an instance's path. */
  isMounted(instanceId: string, path: string): boolean {
    const target = this.hostPath(instanceId, path);
    return mountsBelow(target).includes(target);
  }

  /** Undoes everything (unless `keep`); throws if something could not be undone. */
  cleanup(keep = false): void {
    if (keep) {
      this.loops.keep();
      return;
    }
    this.cloud.ec2.hooks = {};
    this.loops.cleanup();
  }

  private onVolumeCreated(volume: LocalVolume): void {
    if (this.backing.has(volume.volumeId)) return;
    try {
      const loop = this.loops.createVolume({
        volumeId: volume.volumeId,
        sizeMiB: volume.size * this.mibPerGiB,
        link: false,
      });
      this.backing.set(volume.volumeId, loop);
    } catch (error) {
      this.hookErrors.push(`loop for ${volume.volumeId}: ${String(error)}`);
    }
  }

  private onVolumeModified(volume: LocalVolume, newSizeGiB: number): void {
    const loop = this.backing.get(volume.volumeId);
    if (!loop) return;
    try {
      this.loops.grow(loop, newSizeGiB * this.mibPerGiB);
    } catch (error) {
      this.hookErrors.push(`grow loop of ${volume.volumeId}: ${String(error)}`);
    }
  }
}
