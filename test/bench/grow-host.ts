/**
 * `npm run bench -- grow-host [--levels 0.1,0.5,1] [--fill-percent 95] [--metadata dup|raid1]`
 *
 * Host-side time to add a device to a btrfs filesystem at increasing fill levels (GiB written as
 * many small files, so that metadata is large), the seed's steps (`btrfs device add` +
 * `btrfs balance start -m`) against berth's (`grow-filesystem.sh`, Mode=add-device), on real
 * loop devices. For each level:
 * 1. prepare-node makes and mounts the btrfs on a volume sized so that the level fills ~85 % of
 *    it (where the disk alarm fires), then the level is written as small files and it is unmounted;
 * 2. a copy of that volume (as if restored from a snapshot, given a new fsid with `btrfstune -m`
 *    so that both can be attached) gets the seed's steps with a new volume of the same size;
 * 3. the original gets berth's grow-filesystem with its own new volume, then is filled with small
 *    files to 95 % of its new size: `enospcAfterFill` says whether a write failed with ENOSPC first.
 * With `--metadata raid1` the level starts as a two-volume set with raid1 metadata (as mkfs.btrfs
 * makes several devices by default), and only berth's step and the fill run: it shows why
 * prepare-node makes metadata DUP.
 * One JSON line per level on stdout; progress on stderr.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { LoopDevices, mountsBelow, type LoopVolume } from '../helpers/loop-devices';
import { benchArgs } from './args';

const MiB = 1024 * 1024;
const GiB = 1024 * MiB;

export interface Options {
  readonly levelsGiB: number[];
  readonly fillPercent: number;
  /**
   * `dup` (default): the filesystem as prepare-node makes it. `raid1`: a two-volume set made with
   * raid1 metadata (mkfs.btrfs's default for several devices), to see what berth's no-balance grow
   * does to it; the seed's steps are not run then (seedSeconds and ratio are null).
   */
  readonly metadata: 'dup' | 'raid1';
}

export interface GrowHostLine {
  bench: 'grow-host';
  usedMiB: number;
  seedSeconds: number | null;
  berthSeconds: number;
  ratio: number | null;
  enospcAfterFill: boolean;
  [key: string]: unknown;
}

/** The command line (undefined after --help). */
function parseOptions(args: readonly string[]): Options | undefined {
  const options = benchArgs(args, {
    bench: 'grow-host',
    summary: "host seconds to add a device to a btrfs at each fill level: the seed's steps against berth's",
    options: {
      levels: {
        type: 'numbers',
        default: [0.1, 0.5, 1],
        above: 0,
        description: 'GiB of small files written per level',
      },
      'fill-percent': {
        type: 'number',
        default: 95,
        above: 0,
        below: 100,
        description: 'how full the grown filesystem is then written, in percent of its new size',
      },
      metadata: {
        type: 'choice',
        choices: ['dup', 'raid1'],
        default: 'dup',
        description: 'metadata profile of the set',
      },
    },
  });
  return (
    options && { levelsGiB: options.levels, fillPercent: options['fill-percent'], metadata: options.metadata }
  );
}

const sh = (command: string, ...args: string[]): string =>
  execFileSync(command, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
const log = (message: string): void => {
  process.stderr.write(`grow-host: ${message}\n`);
};
const seconds = (start: bigint): number => Number(process.hrtime.bigint() - start) / 1e9;
const round = (value: number, digits = 3): number => Number(value.toFixed(digits));

/** df's view: used bytes and used percent, used / (used + available). */
function usage(dir: string): { usedBytes: number; sizeBytes: number; percent: number } {
  const s = statfsSync(dir);
  const used = (s.blocks - s.bfree) * s.bsize;
  const available = s.bavail * s.bsize;
  return { usedBytes: used, sizeBytes: s.blocks * s.bsize, percent: (100 * used) / (used + available) };
}

function metadataUsedMiB(dir: string): number {
  const line = sh('btrfs', 'filesystem', 'df', '-b', dir)
    .split('\n')
    .find((l) => l.startsWith('Metadata'));
  const used = /used=(\d+)/.exec(line ?? '')?.[1];
  return used ? round(Number(used) / MiB, 1) : NaN;
}

/**
 * Writes small files (a quarter of them ≤ 2 KiB, which btrfs stores inline in metadata; the rest
 * 2–16 KiB) until df shows `usedBytes` used or `untilPercent` full; stops at the first ENOSPC.
 */
function fillWithSmallFiles(
  dir: string,
  limit: { usedBytes?: number; untilPercent?: number },
): { files: number; bytes: number; enospc: boolean; seconds: number } {
  const pool = randomBytes(4 * MiB);
  const start = process.hrtime.bigint();
  let files = 0;
  let bytes = 0;
  let subdir = '';
  const done = (): boolean => {
    if (files % 256 !== 0) return false;
    const now = usage(dir);
    if (limit.usedBytes !== undefined && now.usedBytes >= limit.usedBytes) return true;
    return limit.untilPercent !== undefined && now.percent >= limit.untilPercent;
  };
  mkdirSync(dir, { recursive: true });
  try {
    while (!done()) {
      if (files % 1000 === 0) {
        subdir = join(dir, `d${files / 1000}`);
        mkdirSync(subdir);
      }
      const size =
        files % 4 === 0
          ? 256 + Math.floor(Math.random() * 1792)
          : 2048 + Math.floor(Math.random() * 14 * 1024);
      const offset = Math.floor(Math.random() * (pool.length - size));
      writeFileSync(join(subdir, `f${files}`), pool.subarray(offset, offset + size));
      files++;
      bytes += size;
    }
    sh('sync', '-f', dir);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOSPC')
      return { files, bytes, enospc: true, seconds: seconds(start) };
    throw error;
  }
  return { files, bytes, enospc: false, seconds: seconds(start) };
}

/** The seed's steps (`btrfs device add` + `btrfs balance start -m`) on a copy of the volume. */
function seedSteps(
  loop: LoopDevices,
  primary: LoopVolume,
  sizeMiB: number,
  levelGiB: number,
): { seedSeconds: number; seedAddSeconds: number } {
  // On a copy with its own fsid (btrfstune -m), so that both can be attached.
  const copy = loop.cloneVolume(primary, { link: false });
  sh('btrfstune', '-f', '-m', copy.device);
  const seedTarget = mkdtempSync(join(loop.root, 'seed-'));
  sh('mount', '-t', 'btrfs', copy.device, seedTarget);
  const seedNew = loop.createVolume({ sizeMiB, link: false });
  sh('sync');
  const seedStart = process.hrtime.bigint();
  sh('btrfs', 'device', 'add', seedNew.device, seedTarget);
  const seedAddSeconds = seconds(seedStart);
  sh('btrfs', 'balance', 'start', '-m', seedTarget);
  const seedSeconds = seconds(seedStart);
  log(`level ${levelGiB} GiB: seed add ${round(seedAddSeconds)} s + balance -m → ${round(seedSeconds)} s`);
  sh('umount', seedTarget);
  rmSync(seedTarget, { recursive: true });
  // Gone before the original is mounted again: the kernel would otherwise pair the copy's
  // devices (same metadata UUID) with the original's.
  loop.detachVolume(seedNew);
  loop.detachVolume(copy);

  return { seedSeconds, seedAddSeconds };
}

export function measureLevel(levelGiB: number, options: Options): GrowHostLine {
  const { fillPercent, metadata } = options;
  const loop = LoopDevices.create('bench-grow-host');
  try {
    // The level fills ~80 % of the volume (where the disk alarm fires); small files cost metadata
    // (DUP) on top of their data, and a small btrfs has fixed chunks: leave room for both.
    const sizeMiB = Math.ceil((levelGiB * 1024) / 0.8) + 128;
    const set =
      metadata === 'dup'
        ? [loop.createVolume({ sizeMiB })]
        : [1, 2].map(() => loop.createVolume({ sizeMiB: Math.ceil(sizeMiB / 2) }));
    const primary = set[0];
    if (!primary) throw new Error('no volume');
    if (metadata === 'raid1')
      sh('mkfs.btrfs', '-q', '-K', '-d', 'single', '-m', 'raid1', ...set.map((v) => v.device));
    const prepare = (): void => {
      const run = loop.runScript('prepare-node.sh', {
        VolumeIds: set.map((v) => v.volumeId).join(','),
        DeviceNames: '',
        MountPoint: '/data',
        Filesystem: 'btrfs',
        NodeId: 'bench-0',
        NetworkInterfaceId: '',
        NodeIp: '',
        EnvFile: '',
        ServiceUnit: '',
      });
      if (!run.result?.ok) throw new Error(`prepare-node failed: ${run.stderr}`);
    };
    prepare();
    const data = loop.hostPath('/data');
    log(`level ${levelGiB} GiB: writing small files on a ${sizeMiB} MiB volume`);
    const initial = fillWithSmallFiles(join(data, 'level'), { usedBytes: levelGiB * GiB });
    if (initial.enospc)
      throw new Error(
        `level ${levelGiB} GiB does not fit in ${sizeMiB} MiB (ENOSPC after ${initial.files} files, ${round(initial.bytes / MiB, 1)} MiB):\n${sh('btrfs', 'filesystem', 'usage', '-m', data)}`,
      );
    const before = usage(data);
    const metadataMiB = metadataUsedMiB(data);
    log(
      `level ${levelGiB} GiB: ${initial.files} files in ${round(initial.seconds, 1)} s, ` +
        `df ${round(before.percent, 1)} %, metadata ${metadataMiB} MiB`,
    );
    sh('umount', data);

    let seedSeconds: number | null = null;
    let seedAddSeconds: number | null = null;
    if (metadata === 'dup') {
      ({ seedSeconds, seedAddSeconds } = seedSteps(loop, primary, sizeMiB, levelGiB));
    }

    // berth's step on the original.
    prepare();
    const berthNew = loop.createVolume({ sizeMiB });
    sh('sync');
    const berthStart = process.hrtime.bigint();
    const grow = loop.runScript('grow-filesystem.sh', {
      Mode: 'add-device',
      VolumeId: berthNew.volumeId,
      DeviceName: '',
      MountPoint: '/data',
    });
    const berthSeconds = seconds(berthStart);
    if (!grow.result?.ok) throw new Error(`grow-filesystem failed: ${grow.stderr}`);
    log(
      `level ${levelGiB} GiB: berth grow-filesystem → ${round(berthSeconds)} s; filling to ${fillPercent} %`,
    );
    const after = fillWithSmallFiles(join(data, 'after'), { untilPercent: fillPercent });
    const final = usage(data);
    log(
      `level ${levelGiB} GiB: wrote ${round(after.bytes / MiB, 1)} MiB more in ${round(after.seconds, 1)} s, ` +
        `df ${round(final.percent, 1)} %${after.enospc ? ', ENOSPC' : ''}`,
    );
    return {
      bench: 'grow-host',
      usedMiB: round(before.usedBytes / MiB, 1),
      seedSeconds: seedSeconds === null ? null : round(seedSeconds),
      berthSeconds: round(berthSeconds),
      ratio: seedSeconds === null ? null : round(seedSeconds / berthSeconds, 1),
      enospcAfterFill: after.enospc,
      levelGiB,
      files: initial.files,
      metadataMiB,
      usedPercentBefore: round(before.percent, 1),
      volumeMiB: sizeMiB,
      seedAddSeconds: seedAddSeconds === null ? null : round(seedAddSeconds),
      seedBalanceSeconds:
        seedSeconds === null || seedAddSeconds === null ? null : round(seedSeconds - seedAddSeconds),
      sizeMiBAfter: round(final.sizeBytes / MiB, 1),
      usedPercentAfterFill: round(final.percent, 1),
      metadataMiBAfterFill: metadataUsedMiB(data),
      metadataProfile: grow.result.metadataProfile,
    };
  } finally {
    loop.cleanup();
  }
}

export async function run(args: string[]): Promise<void> {
  const options = parseOptions(args);
  if (!options) return;
  const missing = ['btrfs', 'btrfstune'].filter(
    (tool) => spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0,
  );
  if (missing.length > 0) throw new Error(`grow-host needs ${missing.join(', ')} (npm run setup:host)`);
  for (const levelGiB of options.levelsGiB) {
    const line = measureLevel(levelGiB, options);
    process.stdout.write(`${JSON.stringify(line)}\n`);
  }
  await Promise.resolve();
  if (mountsBelow('/tmp').some((m) => m.includes('bench-grow-host-loop-')))
    throw new Error('grow-host: a mount was left behind');
}
