/**
 * The demo's scenarios, shared by `npm run demo` and the end-to-end tests: a World whose hosts are
 * this machine (HostWorld: loop devices, real agent scripts through the ShellExecutor), and the four
 * claims of the demo, each checked on the real filesystems.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { GroupSettingsInput } from '../../lambdas/shared/config';
import { ShellExecutor } from '../../local-cloud/src/executors';
import { HostWorld } from '../helpers/host-world';
import { NetWorld } from '../helpers/net-world';
import { checksums } from '../helpers/loop-devices';
import { formatTable, type ClaimCheck } from './claims';
import { checkInvariants, type Violation } from './invariants';
import { LoggingExecutor, Narrator } from './narrate';
import { Timeline } from './timeline';
import { World } from './world';

export interface DemoOptions {
  seed?: number;
  sets?: number;
  /** AZs of the sets and the group (default: all three). */
  azs?: readonly string[];
  settings?: Partial<GroupSettingsInput>;
  /** Where timeline lines go (undefined: kept, not printed). */
  out?: (line: string) => void;
  /** MiB of loop file per GiB of volume. @default 15 (20 GiB → 300 MiB) */
  mibPerGiB?: number;
  /**
   * Hosts in network namespaces (test/helpers/net-world.ts): scripts run inside the instance's
   * namespace, where prepare-node finds the set's ENI by its MAC, with the unit-runner as
   * systemctl. `false`: scripts run in this machine's namespace (and prepare-node fails on a set
   * with an ENI). @default true
   */
  net?: boolean;
  /** Called once per instance before its first script runs (what its image and user data put on it). */
  provision?: (instanceId: string) => void;
}

/** The world of the demo: cloud, handlers, hosts on this machine, and the timeline. */
export class Demo {
  readonly world: World;
  readonly host: HostWorld;
  /** The network world, when the demo runs with one. */
  readonly net: NetWorld | undefined;
  readonly executor: LoggingExecutor;
  readonly timeline: Timeline;
  private readonly narrator: Narrator;
  /** Checksums written by the scenarios, by NodeID. */
  readonly written = new Map<string, Record<string, string>>();

  constructor(options: DemoOptions = {}) {
    this.world = new World({
      seed: options.seed ?? 1,
      ...(options.sets !== undefined ? { sets: options.sets } : {}),
      ...(options.azs ? { azs: options.azs } : {}),
      ...(options.settings ? { settings: options.settings } : {}),
    });
    const cloud = this.world.cloud;
    this.host = HostWorld.create(cloud, { mibPerGiB: options.mibPerGiB ?? 15, name: 'berth-demo' });
    try {
      this.net = (options.net ?? true) ? NetWorld.create(cloud, this.host) : undefined;
    } catch (error) {
      this.host.cleanup();
      throw error;
    }
    const provisioned = new Set<string>();
    const envFor = (id: string): Record<string, string> => {
      if (options.provision && !provisioned.has(id)) {
        provisioned.add(id);
        options.provision(id);
      }
      return this.net ? this.net.envFor(id) : this.host.envFor(id);
    };
    const net = this.net;
    this.executor = new LoggingExecutor(
      new ShellExecutor({
        clock: cloud.clock,
        envFor,
        ...(net ? { wrapFor: (id: string) => net.wrapFor(id) } : {}),
        maxRealMs: 120_000,
      }),
      () => cloud.clock.now(),
    );
    cloud.ssm.executor = this.executor;
    this.timeline = new Timeline(() => cloud.clock.now(), options.out);
    this.narrator = new Narrator(cloud, this.executor);
  }

  get cloud(): World['cloud'] {
    return this.world.cloud;
  }

  /** Seeds the sets and creates the group. */
  setUp(): void {
    const sets = this.world.seedSets();
    this.world.createGroup();
    this.timeline.step(
      `local cloud: VPC over ${new Set(sets.map((s) => s.az)).size} AZs, ${sets.length} NodeID sets (${sets
        .map((s) => `${s.nodeId}: ${s.volumeIds.join('+')} ${s.eniId} ${s.ip} in ${s.az}`)
        .join('; ')})`,
    );
    this.timeline.note(`each volume is a loop device on this machine (${this.host.root})`);
  }

  /** Delivers events until the bus is quiet, printing what berth did. */
  async settle(rounds = 50): Promise<void> {
    for (let i = 0; i < rounds; i++) {
      const made = await this.world.pump();
      this.flush();
      for (const d of made) {
        if (!d.ok) this.timeline.note(`${d.handler} handler failed: ${errorText(d.error)}`);
      }
      // Instances that ended release whatever they still had mounted (as a dying machine does).
      for (const instance of this.cloud.ec2.instances()) {
        if (instance.state === 'terminated') this.host.releaseHost(instance.instanceId);
      }
      await this.world.wait(5_000);
      if (made.length === 0 && this.cloud.events.peek().length === 0) break;
    }
    this.flush();
  }

  /** Prints the AWS calls and host runs since the last flush. */
  flush(): void {
    for (const [at, text] of this.narrator.take()) this.timeline.stepAt(at, text);
  }

  // --- reading the hosts ------------------------------------------------------------------------

  mountPoint(): string {
    return this.world.settingsResolved.mountPoint;
  }

  dataDir(instanceId: string): string {
    return this.host.hostPath(instanceId, this.mountPoint());
  }

  envFile(instanceId: string): Record<string, string> | undefined {
    const path = this.host.hostPath(instanceId, this.world.settingsResolved.envFile);
    if (!existsSync(path)) return undefined;
    return Object.fromEntries(
      readFileSync(path, 'utf8')
        .split('\n')
        .filter((l) => l.includes('='))
        .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
    );
  }

  /** Devices of the btrfs mounted at an instance's mount point (`btrfs filesystem show`). */
  btrfsDevices(instanceId: string): string[] {
    const out = spawnSync('btrfs', ['filesystem', 'show', this.dataDir(instanceId)], { encoding: 'utf8' });
    return [...out.stdout.matchAll(/devid\s+\d+\s+size\s+\S+\s+used\s+\S+\s+path\s+(\S+)/g)].map(
      (m) => m[1] ?? '',
    );
  }

  /**
   * Writes `count` files of random bytes under the mount point's `demo/`; with `remember` (the
   * default), syncs and keeps the checksums of everything under `demo/` for a later read-back.
   */
  writeFiles(
    instanceId: string,
    nodeId: string,
    count: number,
    sizeBytes: number,
    prefix = 'file',
    remember = true,
  ): void {
    const dir = join(this.dataDir(instanceId), 'demo');
    mkdirSync(dir, { recursive: true });
    for (let i = 0; i < count; i++) writeFileSync(join(dir, `${prefix}-${i}.bin`), randomBytes(sizeBytes));
    if (!remember) return;
    spawnSync('sync', ['-f', dir]);
    this.written.set(nodeId, checksums(dir));
  }

  /** Checksums of the files under `demo/` on an instance. */
  readFiles(instanceId: string): Record<string, string> {
    const dir = join(this.dataDir(instanceId), 'demo');
    return existsSync(dir) ? checksums(dir) : {};
  }

  /** The invariants hold now (no set on two instances, none half-attached, no lost volume). */
  invariants(): Violation[] {
    return checkInvariants({
      cloud: this.cloud,
      seededVolumeIds: this.world.seededVolumeIds,
      createdVolumeIds: [],
      joinedVolumeIds: new Set(),
      pendingActions: this.cloud.autoscaling.pendingActions(),
      timedOutActions: this.cloud.autoscaling.timedOutActions(),
    });
  }

  /** What the CloudWatch agent does every minute: disk_used_percent of the mount, from `df`. */
  async publishDiskUsage(instanceId: string): Promise<number | undefined> {
    const df = this.host.df(instanceId, this.mountPoint());
    if (!df) return undefined;
    await this.world.putDiskUsedPercent(instanceId, df.usedPercent, df.fstype);
    return df.usedPercent;
  }

  /** Summary rows: node, NodeID, volumes, IP, size. */
  summary(): string {
    const rows: string[][] = [['node', 'NodeID', 'volumes', 'IP', 'size', 'AZ']];
    for (const instance of this.world.liveInstances().map((id) => this.cloud.ec2.instance(id))) {
      if (!instance) continue;
      const env = this.envFile(instance.instanceId);
      const nodeId = this.world.nodeIdOf(instance.instanceId);
      const df = this.host.df(instance.instanceId, this.mountPoint());
      const volumes = instance.volumes.filter((v) => v.device !== '/dev/xvda').map((v) => v.volumeId);
      rows.push([
        instance.instanceId,
        nodeId ?? '(spare)',
        volumes.join(',') || '-',
        env?.NODE_IP ?? instance.privateIp,
        df ? `${Math.round(df.sizeBytes / 1048576)} MiB (${Math.round(df.usedPercent)}% used)` : '-',
        instance.availabilityZone,
      ]);
    }
    return formatTable(rows);
  }

  cleanup(keep = false): void {
    this.world.dispose();
    // The namespaces first: their processes (services) hold the mounts the host cleanup removes.
    let netError: unknown;
    try {
      if (keep) this.net?.keep();
      else this.net?.cleanup();
    } catch (error) {
      netError = error;
    }
    this.host.cleanup(keep);
    if (netError) throw netError;
  }
}

/** The set of `nodeId` has a holder other than `old` now; returns it (checked). */
export function expectMoved(demo: Demo, check: ClaimCheck, nodeId: string, old: string): string | undefined {
  const holder = demo.world.holder(nodeId);
  check.expect(
    holder !== undefined && holder !== old,
    `${nodeId} moved from ${old} to ${holder ?? 'nobody'}`,
  );
  return holder;
}

/** `old` ran quiesce-node successfully (before its set was detached). */
export function expectQuiesced(demo: Demo, check: ClaimCheck, old: string, what: string): void {
  check.expect(
    demo.executor.runs.some(
      (r) => r.instanceId === old && r.script === 'quiesce-node' && r.result?.ok === true,
    ),
    `${old} was quiesced (${what}) before the set was detached`,
  );
}

function errorText(error: unknown): string {
  return error instanceof Error ? `${error.name}: ${error.message}` : String(error);
}

// --- the claims ---------------------------------------------------------------------------------

/** Claim 1: three nodes come up holding sets 0, 1, 2 (btrfs, mounted, env file); the fourth is a spare. */
export async function claimNodesComeUp(demo: Demo, check: ClaimCheck, instances = 4): Promise<void> {
  demo.timeline.section('1. four instances launch over three AZs: three take a NodeID set, one is a spare');
  demo.world.launch(instances);
  demo.timeline.step(`Auto Scaling launches ${instances} instances; each waits in Pending:Wait for berth`);
  await demo.settle();
  const spares: string[] = [];
  for (const set of demo.world.sets) {
    const holder = demo.world.holder(set.nodeId);
    if (!check.expect(holder !== undefined, `${set.nodeId} is held by an instance`) || !holder) continue;
    const df = demo.host.df(holder, demo.mountPoint());
    check.equal(
      df?.fstype,
      demo.world.settingsResolved.filesystem,
      `${set.nodeId} on ${holder}: filesystem mounted at ${demo.mountPoint()}`,
    );
    const env = demo.envFile(holder);
    check.equal(
      env && {
        NODE_ID: env.NODE_ID,
        NODE_IP: env.NODE_IP,
        VOLUME_IDS: env.VOLUME_IDS,
        NETWORK_INTERFACE_ID: env.NETWORK_INTERFACE_ID,
      },
      {
        NODE_ID: set.nodeId,
        NODE_IP: set.ip,
        VOLUME_IDS: set.volumeIds.join(','),
        NETWORK_INTERFACE_ID: set.eniId,
      },
      `${set.nodeId} on ${holder}: env file names the node, its IP, volumes and ENI`,
    );
    const eni = demo.cloud.ec2.networkInterface(set.eniId);
    check.equal(
      eni?.attachment?.instanceId,
      holder,
      `${set.nodeId}: its ENI ${set.eniId} (${set.ip}) is on ${holder}`,
    );
  }
  for (const id of demo.world.liveInstances()) if (!demo.world.nodeIdOf(id)) spares.push(id);
  check.equal(
    spares.length,
    instances - demo.world.sets.length,
    `${spares.join(',') || 'no instance'} is a spare`,
  );
  check.equal(
    demo.world.inService().length,
    instances,
    'every instance is InService (lifecycle actions completed)',
  );
  check.equal(demo.invariants(), [], 'invariants hold');
}

/** Claim 2: node-1 writes files, its instance ends, the set moves to the spare (or a replacement) with its data. */
export async function claimSetMoves(demo: Demo, check: ClaimCheck, nodeId = 'node-1'): Promise<void> {
  demo.timeline.section(`2. ${nodeId} writes files; its instance is terminated; the set moves with its data`);
  const old = demo.world.holder(nodeId);
  if (!check.expect(old !== undefined, `${nodeId} has a holder`) || !old) return;
  demo.writeFiles(old, nodeId, 32, 64 * 1024);
  const before = demo.written.get(nodeId) ?? {};
  demo.timeline.step(
    `${old} (${nodeId}) writes ${Object.keys(before).length} files of 64 KiB under ${demo.mountPoint()}/demo`,
  );
  demo.world.terminate(old);
  demo.timeline.step(`Auto Scaling terminates ${old}; it waits in Terminating:Wait for berth`);
  await demo.settle();
  const holder = expectMoved(demo, check, nodeId, old);
  expectQuiesced(demo, check, old, 'unmounted');
  check.equal(demo.cloud.ec2.instance(old)?.state, 'terminated', `${old} is terminated`);
  if (!holder) return;
  const env = demo.envFile(holder);
  check.equal(env?.NODE_ID, nodeId, `${holder}: env file says ${nodeId}`);
  check.equal(env?.NODE_IP, demo.world.set(nodeId).ip, `${holder}: same IP ${demo.world.set(nodeId).ip}`);
  const after = demo.readFiles(holder);
  check.equal(
    Object.keys(after).length,
    Object.keys(before).length,
    `${holder}: ${Object.keys(after).length} files read back`,
  );
  check.expect(
    Object.keys(before).length > 0 && Object.entries(before).every(([f, sum]) => after[f] === sum),
    `${holder}: every file has the same sha256 as before`,
  );
  check.equal(demo.invariants(), [], 'invariants hold');
}

/**
 * Claim 3: node-2 fills up; the alarm fires; berth grows its filesystem (a volume added to btrfs, or,
 * with the `expand` strategy, its volume enlarged in place); df shows it; the alarm is OK again.
 */
export async function claimGrows(
  demo: Demo,
  check: ClaimCheck,
  nodeId = 'node-2',
  section = 3,
): Promise<void> {
  const strategy = demo.world.settingsResolved.growth?.strategy ?? 'add-device';
  const fs = demo.world.settingsResolved.filesystem;
  demo.timeline.section(
    strategy === 'add-device'
      ? `${section}. ${nodeId}'s filesystem fills up; the alarm fires; berth adds a volume to ${fs}`
      : `${section}. ${nodeId}'s ${fs} fills up; the alarm fires; berth enlarges its volume in place`,
  );
  const holder = demo.world.holder(nodeId);
  if (!check.expect(holder !== undefined, `${nodeId} has a holder`) || !holder) return;
  const alarm = demo.world.alarmOf(holder);
  if (!check.expect(alarm !== undefined, `${holder} has a disk alarm`) || !alarm) return;
  const threshold = alarm.threshold;
  const before = demo.host.df(holder, demo.mountPoint());
  if (!check.expect(before !== undefined, `${holder}: ${demo.mountPoint()} is mounted`) || !before) return;
  const sizesBefore = new Map(
    demo.world.volumesOf(nodeId).map((v) => [v, demo.cloud.ec2.volume(v)?.size ?? 0]),
  );
  // Real data past the threshold: files of 8 MiB until df says so.
  const target = Math.min(95, threshold + 15);
  let used = before.usedPercent;
  let n = 0;
  while (used < target && n < 200) {
    demo.writeFiles(holder, nodeId, 1, 8 * 1024 * 1024, `fill-${n++}`, false);
    spawnSync('sync', ['-f', demo.dataDir(holder)]);
    used = demo.host.df(holder, demo.mountPoint())?.usedPercent ?? 100;
  }
  // Remember every file written on this node so far (checksums of the whole demo/ folder).
  demo.written.set(nodeId, demo.readFiles(holder));
  demo.timeline.step(
    `${holder} writes ${n * 8} MiB: df says ${Math.round(used)}% used of ${Math.round(before.sizeBytes / 1048576)} MiB (alarm ${alarm.name} above ${threshold}%)`,
  );
  const grown = (): boolean =>
    strategy === 'add-device'
      ? demo.world.volumesOf(nodeId).length > sizesBefore.size
      : [...sizesBefore].some(([v, size]) => (demo.cloud.ec2.volume(v)?.size ?? 0) > size) &&
        (demo.host.df(holder, demo.mountPoint())?.sizeBytes ?? 0) > before.sizeBytes;
  let grew = false;
  let backToOk = false;
  let alarmed = false;
  for (let minute = 0; minute < 20 && !(grew && backToOk); minute++) {
    const pct = await demo.publishDiskUsage(holder);
    demo.timeline.note(
      `CloudWatch agent on ${holder}: disk_used_percent ${pct?.toFixed(1) ?? '?'} (from df)`,
    );
    await demo.world.wait(60_000);
    if (demo.world.alarmState(alarm.name) === 'ALARM' && !alarmed) {
      alarmed = true;
      demo.timeline.step(`alarm ${alarm.name} is ALARM`);
    }
    await demo.settle();
    grew = grew || grown();
    backToOk = grew && demo.world.alarmState(alarm.name) === 'OK';
  }
  check.expect(alarmed, `alarm ${alarm.name} went to ALARM from the agent's datapoints`);
  const after = demo.host.df(holder, demo.mountPoint());
  const volumes = demo.world.volumesOf(nodeId);
  if (strategy === 'add-device') {
    check.equal(
      volumes.length,
      sizesBefore.size + 1,
      `${nodeId} has ${volumes.length} volumes (one added, NodeID-tagged)`,
    );
    const added = volumes[volumes.length - 1];
    check.expect(
      added !== undefined &&
        demo.cloud.ec2
          .volume(added)
          ?.attachments.some((a) => a.instanceId === holder && a.state === 'attached') === true,
      `${added ?? 'the new volume'} is attached to ${holder}`,
    );
    if (fs === 'btrfs')
      check.equal(
        demo.btrfsDevices(holder).length,
        volumes.length,
        `btrfs at ${demo.mountPoint()} spans ${volumes.length} devices`,
      );
  } else {
    check.equal(volumes.length, sizesBefore.size, `${nodeId} still has ${volumes.length} volume(s)`);
    const sizes = volumes.map(
      (v) => `${v} ${sizesBefore.get(v) ?? '?'} -> ${demo.cloud.ec2.volume(v)?.size ?? '?'} GiB`,
    );
    check.expect(
      volumes.some((v) => (demo.cloud.ec2.volume(v)?.size ?? 0) > (sizesBefore.get(v) ?? Infinity)),
      `ModifyVolume enlarged it: ${sizes.join(', ')}`,
    );
  }
  check.expect(
    after !== undefined && after.sizeBytes > before.sizeBytes * 1.3,
    `df: ${Math.round(before.sizeBytes / 1048576)} MiB -> ${after ? Math.round(after.sizeBytes / 1048576) : '?'} MiB`,
  );
  check.equal(demo.world.alarmState(alarm.name), 'OK', `alarm ${alarm.name} is back to OK`);
  const sums = demo.readFiles(holder);
  check.expect(
    Object.entries(demo.written.get(nodeId) ?? {}).every(([f, s]) => sums[f] === s),
    'every file reads back with its checksum',
  );
  check.equal(demo.invariants(), [], 'invariants hold');
}

/** Claim 4: node-2's instance is replaced; the new one mounts the two-device btrfs with all the data. */
export async function claimGrownSetMoves(demo: Demo, check: ClaimCheck, nodeId = 'node-2'): Promise<void> {
  demo.timeline.section(
    `4. ${nodeId}'s instance is replaced: its successor gets both volumes and all the data`,
  );
  const old = demo.world.holder(nodeId);
  if (!check.expect(old !== undefined, `${nodeId} has a holder`) || !old) return;
  const volumes = demo.world.volumesOf(nodeId);
  demo.world.terminate(old);
  demo.timeline.step(`Auto Scaling terminates ${old} (${nodeId}, volumes ${volumes.join(',')})`);
  await demo.settle();
  const holder = expectMoved(demo, check, nodeId, old);
  if (!holder) return;
  const attached = demo.cloud.ec2
    .instance(holder)
    ?.volumes.filter((v) => v.state === 'attached')
    .map((v) => v.volumeId);
  check.expect(
    volumes.every((v) => attached?.includes(v)),
    `${holder} holds both volumes ${volumes.join(',')}`,
  );
  check.equal(
    demo.btrfsDevices(holder).length,
    volumes.length,
    `${holder} mounts the ${volumes.length}-device btrfs`,
  );
  const sums = demo.readFiles(holder);
  const expected = demo.written.get(nodeId) ?? {};
  check.expect(
    Object.keys(expected).length > 0 && Object.entries(expected).every(([f, s]) => sums[f] === s),
    `${holder}: all ${Object.keys(expected).length} files read back with their checksums`,
  );
  check.equal(demo.envFile(holder)?.VOLUME_IDS, volumes.join(','), `${holder}: env file lists both volumes`);
  check.equal(demo.invariants(), [], 'invariants hold');
}
