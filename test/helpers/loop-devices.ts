/**
 * Loop devices that stand for EBS volumes, for the agent-script tests, the demo and the
 * end-to-end tests. A fixture owns one unique temporary directory with:
 * - `images/`: sparse files behind the loop devices;
 * - `by-id/`: the stand-in for `/dev/disk/by-id`, with `nvme-Amazon_Elastic_Block_Store_vol<hex>`
 *   symlinks to the loop devices (pass it as `BERTH_DEVICE_DIR`);
 * - `host/`: the stand-in for the instance's `/` (pass it as `BERTH_HOST_ROOT`): mount points,
 *   env file and fstab (`host/etc/fstab`) live below it, never in the real `/etc`;
 * - `bin/systemctl`: a fake systemctl that records its arguments (pass it as `BERTH_SYSTEMCTL`).
 *
 * `cleanup()` kills the processes it started, unmounts everything mounted below its directory
 * (whoever mounted it), forgets btrfs devices, detaches every loop device and removes the
 * directory, even after a failed test; it throws if anything could not be cleaned.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseScriptResult, type ScriptResult } from '../../lambdas/shared/documents';
import { assembledScriptPath } from './assembled-scripts';

export const AGENT_SCRIPTS_DIR = resolve(__dirname, '../../agent-scripts');
const MiB = 1024 * 1024;

export interface LoopVolume {
  /** The fake EBS volume id (`vol-0` + 16 hex digits unless given). */
  readonly volumeId: string;
  /** The sparse image file behind the loop device. */
  readonly file: string;
  /** The loop device, e.g. `/dev/loop3`. */
  readonly device: string;
  /** The Nitro-style link in the fixture's device directory (absent with `link: false`). */
  readonly link: string | undefined;
}

export interface CreateVolumeOptions {
  readonly sizeMiB: number;
  readonly volumeId?: string;
  /** Whether to create the by-id link (default true); without it only the device name finds it. */
  readonly link?: boolean;
}

export interface ScriptRun {
  readonly status: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The JSON line the script printed last, if any. */
  readonly result: ScriptResult | undefined;
}

function run(command: string, args: readonly string[]): string {
  return execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function tryRun(command: string, args: readonly string[]): { ok: boolean; output: string } {
  const out = spawnSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  return {
    ok: out.status === 0,
    output: `${out.stdout ?? ''}${out.stderr ?? ''}${out.error ? String(out.error) : ''}`.trim(),
  };
}

/** A fake EBS volume id: `vol-0` and 16 hex digits. */
export function newVolumeId(): string {
  return `vol-0${randomBytes(8).toString('hex')}`;
}

function sleepMs(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** Throws, saying why, when this machine cannot run loop-device tests (never a silent pass). */
export function assertLoopDevicesAvailable(): void {
  const reasons: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    reasons.push(`tests must run as root (uid ${process.getuid()})`);
  for (const tool of ['losetup', 'mount', 'umount', 'blkid', 'mkfs.btrfs', 'mkfs.ext4', 'mkfs.xfs']) {
    if (!tryRun('sh', ['-c', `command -v ${tool}`]).ok)
      reasons.push(`${tool} is not installed (run: npm run setup:host)`);
  }
  if (!existsSync('/dev/loop-control')) reasons.push('/dev/loop-control does not exist');
  else {
    const free = tryRun('losetup', ['-f']);
    if (!free.ok) reasons.push(`losetup -f found no free loop device: ${free.output}`);
  }
  if (reasons.length > 0) throw new Error(`loop devices are unavailable here: ${reasons.join('; ')}`);
}

/** Mount points below `prefix`, deepest first (from /proc/self/mountinfo). */
export function mountsBelow(prefix: string): string[] {
  const unescape = (s: string): string =>
    s.replace(/\\([0-7]{3})/g, (_, octal: string) => String.fromCharCode(parseInt(octal, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4])
    .filter((target): target is string => target !== undefined)
    .map(unescape)
    .filter((target) => target === prefix || target.startsWith(`${prefix}/`))
    .sort((a, b) => b.length - a.length);
}

const open = new Set<LoopDevices>();
process.on('exit', () => {
  for (const fixture of open) {
    try {
      fixture.cleanup();
    } catch (error) {
      console.error(error);
    }
  }
});

export class LoopDevices {
  readonly root: string;
  readonly deviceDir: string;
  readonly hostRoot: string;
  readonly fstab: string;
  readonly systemctl: string;
  readonly systemctlLog: string;
  readonly volumes: LoopVolume[] = [];
  private readonly children: ChildProcess[] = [];
  private mounts = 0;

  /** Checks that loop devices work here, then makes a fresh fixture directory. */
  static create(name = 'berth'): LoopDevices {
    assertLoopDevicesAvailable();
    return new LoopDevices(mkdtempSync(join(tmpdir(), `${name}-loop-`)));
  }

  private constructor(root: string) {
    this.root = root;
    this.deviceDir = join(root, 'by-id');
    this.hostRoot = join(root, 'host');
    this.fstab = join(this.hostRoot, 'etc', 'fstab');
    this.systemctl = join(root, 'bin', 'systemctl');
    this.systemctlLog = join(root, 'systemctl.log');
    for (const dir of [this.deviceDir, join(root, 'images'), join(root, 'bin'), this.hostRoot])
      mkdirSync(dir, { recursive: true });
    writeFileSync(
      this.systemctl,
      [
        '#!/usr/bin/env bash',
        '# fake systemctl: records its arguments; exits with FAKE_SYSTEMCTL_EXIT (default 0)',
        `printf '%s\\n' "$*" >>'${this.systemctlLog}'`,
        'exit "${FAKE_SYSTEMCTL_EXIT:-0}"',
        '',
      ].join('\n'),
    );
    chmodSync(this.systemctl, 0o755);
    open.add(this);
  }

  /** Makes a sparse image, attaches it to a free loop device and links it by volume id. */
  createVolume(options: CreateVolumeOptions): LoopVolume {
    const volumeId = options.volumeId ?? newVolumeId();
    const file = join(this.root, 'images', `${volumeId}.img`);
    writeFileSync(file, '');
    run('truncate', ['-s', String(options.sizeMiB * MiB), file]);
    return this.attach(volumeId, file, options.link ?? true);
  }

  /**
   * A new volume whose content is a copy of `source` (as if restored from its snapshot): the same
   * filesystem and UUID. Copy only a volume that is not mounted.
   */
  cloneVolume(source: LoopVolume, options: { volumeId?: string; link?: boolean } = {}): LoopVolume {
    const volumeId = options.volumeId ?? newVolumeId();
    const file = join(this.root, 'images', `${volumeId}.img`);
    run('cp', ['--sparse=always', source.file, file]);
    return this.attach(volumeId, file, options.link ?? true);
  }

  private attach(volumeId: string, file: string, withLink: boolean): LoopVolume {
    const device = run('losetup', ['--find', '--show', file]).trim();
    let link: string | undefined;
    if (withLink) {
      link = join(this.deviceDir, `nvme-Amazon_Elastic_Block_Store_${volumeId.replace('-', '')}`);
      symlinkSync(device, link);
    }
    const volume: LoopVolume = { volumeId, file, device, link };
    this.volumes.push(volume);
    return volume;
  }

  /** Detaches a volume that is no longer mounted (forgets it for btrfs) and deletes its image. */
  detachVolume(volume: LoopVolume): void {
    tryRun('btrfs', ['device', 'scan', '--forget', volume.device]);
    run('losetup', ['-d', volume.device]);
    if (volume.link) rmSync(volume.link, { force: true });
    rmSync(volume.file, { force: true });
    const index = this.volumes.indexOf(volume);
    if (index >= 0) this.volumes.splice(index, 1);
  }

  /** Enlarges a volume in place, as ModifyVolume does: grow the file, make the kernel re-read it. */
  grow(volume: LoopVolume, sizeMiB: number): void {
    run('truncate', ['-s', String(sizeMiB * MiB), volume.file]);
    run('losetup', ['-c', volume.device]);
  }

  /** Size of the block device in bytes, as the kernel sees it. */
  deviceSize(volume: LoopVolume): number {
    return Number(run('blockdev', ['--getsize64', volume.device]).trim());
  }

  /** The host path of an instance path (`/data` → `<root>/host/data`). */
  hostPath(path: string): string {
    return join(this.hostRoot, path);
  }

  /** Mounts a device below the fixture (for tests that prepare data by hand). */
  mount(device: string, fstype?: string): string {
    const target = join(this.root, `mnt-${++this.mounts}`);
    mkdirSync(target, { recursive: true });
    run('mount', [...(fstype ? ['-t', fstype] : []), device, target]);
    return target;
  }

  unmount(target: string): void {
    run('umount', [target]);
  }

  /** Starts a process whose working directory is `dir`, so that the filesystem is busy. */
  hold(dir: string, seconds = 600): ChildProcess {
    const child = spawn('sleep', [String(seconds)], { cwd: dir, stdio: 'ignore' });
    this.children.push(child);
    return child;
  }

  /** Environment for a script run: the fixture's overrides, then `SSM_<Name>` for each parameter. */
  env(
    parameters: Readonly<Record<string, string>>,
    overrides: Readonly<Record<string, string>> = {},
  ): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = {
      PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin',
      LANG: 'C',
      BERTH_DEVICE_DIR: this.deviceDir,
      BERTH_HOST_ROOT: this.hostRoot,
      BERTH_DEVICE_WAIT_SECONDS: '0',
      BERTH_IFACE_WAIT_SECONDS: '0',
      BERTH_SYSTEMCTL: this.systemctl,
      ...overrides,
    };
    for (const [name, value] of Object.entries(parameters)) env[`SSM_${name}`] = value;
    return env;
  }

  /**
   * Runs an agent script (e.g. `prepare-node.sh`) with the given SSM parameters; `wrap` is a
   * command prefix (`nsenter --net=…` runs it in a host's network namespace).
   */
  runScript(
    script: string,
    parameters: Readonly<Record<string, string>>,
    overrides: Readonly<Record<string, string>> = {},
    wrap: readonly string[] = [],
  ): ScriptRun {
    return runAgentScript(script, this.env(parameters, overrides), wrap);
  }

  /** Lines the fake systemctl recorded. */
  systemctlCalls(): string[] {
    if (!existsSync(this.systemctlLog)) return [];
    return readFileSync(this.systemctlLog, 'utf8').split('\n').filter(Boolean);
  }

  /** Leaves everything in place at process exit (the demo's --keep): no cleanup will run. */
  keep(): void {
    open.delete(this);
  }

  /** Undoes everything; throws (after trying every step) if something could not be undone. */
  cleanup(): void {
    const problems: string[] = [];
    for (const child of this.children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
    for (const target of mountsBelow(this.root)) {
      let result = tryRun('umount', [target]);
      for (let attempt = 0; !result.ok && attempt < 10; attempt++) {
        tryRun('fuser', ['-km', target]);
        sleepMs(100);
        result = tryRun('umount', [target]);
      }
      if (!result.ok) problems.push(`umount ${target}: ${result.output}`);
    }
    for (const volume of this.volumes.splice(0)) {
      tryRun('btrfs', ['device', 'scan', '--forget', volume.device]);
      const detach = tryRun('losetup', ['-d', volume.device]);
      if (!detach.ok) problems.push(`losetup -d ${volume.device}: ${detach.output}`);
    }
    const left = mountsBelow(this.root);
    if (left.length === 0) rmSync(this.root, { recursive: true, force: true });
    else problems.push(`still mounted, ${this.root} kept: ${left.join(', ')}`);
    open.delete(this);
    if (problems.length > 0) throw new Error(`loop-device cleanup failed: ${problems.join('; ')}`);
  }
}

/**
 * Runs `agent-scripts/<script>` as its SSM document embeds it (assembled: include/common.sh inlined)
 * with bash and exactly the given environment.
 */
export function runAgentScript(
  script: string,
  env: NodeJS.ProcessEnv,
  wrap: readonly string[] = [],
): ScriptRun {
  const [command = 'bash', ...args] = [...wrap, 'bash', assembledScriptPath(script)];
  const out = spawnSync(command, args, {
    env,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 180_000,
  });
  if (out.error) throw out.error;
  return {
    status: out.status,
    stdout: out.stdout,
    stderr: out.stderr,
    result: parseScriptResult(out.stdout),
  };
}

/** Writes `count` files of pseudo-random bytes (`file-<n>.bin`) into `dir`. */
export function writeSampleFiles(dir: string, count: number, sizeBytes = 4096): void {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < count; i++) writeFileSync(join(dir, `file-${i}.bin`), randomBytes(sizeBytes));
  run('sync', ['-f', dir]);
}

/** sha256 of every regular file below `dir`, by relative path. */
export function checksums(dir: string): Record<string, string> {
  const sums: Record<string, string> = {};
  const walk = (relative: string): void => {
    for (const entry of readdirSync(join(dir, relative), { withFileTypes: true })) {
      const path = relative ? `${relative}/${entry.name}` : entry.name;
      if (entry.isDirectory()) walk(path);
      else if (entry.isFile())
        sums[path] = createHash('sha256')
          .update(readFileSync(join(dir, path)))
          .digest('hex');
    }
  };
  walk('');
  return sums;
}
