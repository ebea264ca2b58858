/**
 * `npm run demo -- etcd`: a real 3-member etcd cluster run through berth. Three NodeID sets, three
 * instances, each a network namespace (test/helpers/net-world.ts) whose root folder carries
 * Debian's etcd unit and the member's configuration drop-in; the real handlers and agent scripts
 * attach, mount, configure and start it (the unit-runner stands in for systemctl). Then:
 * a member's instance is terminated (hook: quiesce, detach) and replaced; another is killed without
 * its hook; a member's btrfs grows by a volume while etcd writes; a node reboots with its volume
 * missing and etcd must not start on the empty directory. Every step is checked with etcdctl.
 */
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { dirname, join } from 'node:path';
import { runClaim, type ClaimCheck, type ClaimResult } from './claims';
import { etcdDataDir, etcdHostFiles } from '../../infra/example-etcd';
import { claimGrows, Demo, expectMoved, expectQuiesced } from './scenarios';

export const ETCD_UNIT = 'etcd.service';
export const ETCD_MOUNT_POINT = '/var/lib/etcd';
export const ETCD_ENV_FILE = '/etc/berth/node.env';
const DEBIAN_UNIT = '/lib/systemd/system/etcd.service';

export interface EtcdDemoOptions {
  seed?: number;
  out?: (line: string) => void;
  /** Keys written before the replacement. @default 60 */
  keys?: number;
}

export interface EtcdMember {
  id: string;
  name: string;
  peerUrl: string;
  clientUrl: string;
}

/** The numbers of the demo's last line. */
export interface EtcdSummary {
  demo: 'etcd';
  members: number;
  replaced: number;
  killed: number;
  keysWritten: number;
  keysRead: number;
  memberIdsKept: boolean;
  ipsKept: boolean;
  healthy: number;
  emptyStartRefused: boolean;
  recoverySeconds: number;
}

export class EtcdDemo {
  readonly demo: Demo;
  readonly keys: number;
  readonly summary: EtcdSummary;
  /** Members as first formed (id, name, URLs). */
  initialMembers: EtcdMember[] = [];
  /** From the terminate (with its hook) to all members healthy. */
  replacedRecovery: Recovery | undefined;
  /** From the kill (no hook) to all members healthy. */
  killedRecovery: Recovery | undefined;
  constructor(options: EtcdDemoOptions = {}) {
    this.keys = options.keys ?? 60;
    this.demo = new Demo({
      seed: options.seed ?? 1,
      sets: 3,
      ...(options.out ? { out: options.out } : {}),
      settings: {
        filters: 'Service=berth-demo',
        mountPoint: ETCD_MOUNT_POINT,
        envFile: ETCD_ENV_FILE,
        serviceUnit: ETCD_UNIT,
      },
      net: true,
      provision: (id) => this.provision(id),
    });
    this.summary = {
      demo: 'etcd',
      members: 0,
      replaced: 0,
      killed: 0,
      keysWritten: 0,
      keysRead: 0,
      memberIdsKept: false,
      ipsKept: false,
      healthy: 0,
      emptyStartRefused: false,
      recoverySeconds: 0,
    };
  }

  get net(): NonNullable<Demo['net']> {
    const net = this.demo.net;
    if (!net) throw new Error('the etcd demo runs in the network world');
    return net;
  }

  setUp(): void {
    this.demo.setUp();
    this.demo.timeline.note(
      `every instance is a network namespace on bridge br0 of ${this.net.vpcNs}; every ENI a veth pair`,
    );
  }

  /** What the image and the user data put on an instance before berth runs anything there. */
  provision(instanceId: string): void {
    const root = (path: string): string => this.demo.host.hostPath(instanceId, path);
    const put = (path: string, content: string, mode = 0o644): void => {
      mkdirSync(dirname(root(path)), { recursive: true });
      writeFileSync(root(path), content);
      chmodSync(root(path), mode);
    };
    // Debian's package: its user (the unit's ExecStartPre makes the data directory etcd's) and
    // its unit, enabled (its postinst enables and starts it; the example's user data keeps it from
    // starting before berth).
    for (const file of ['/etc/passwd', '/etc/group']) put(file, readFileSync(file, 'utf8'));
    mkdirSync(dirname(root(DEBIAN_UNIT)), { recursive: true });
    copyFileSync(DEBIAN_UNIT, root(DEBIAN_UNIT));
    const wants = root('/etc/systemd/system/multi-user.target.wants');
    mkdirSync(wants, { recursive: true });
    if (!existsSync(join(wants, ETCD_UNIT))) symlinkSync(DEBIAN_UNIT, join(wants, ETCD_UNIT));
    const members = this.demo.world.sets.map((s) => ({ nodeId: s.nodeId, ip: s.ip }));
    for (const file of etcdHostFiles({ mountPoint: ETCD_MOUNT_POINT, envFile: ETCD_ENV_FILE, members }))
      put(file.path, file.content, parseInt(file.mode, 8));
  }

  // --- etcdctl, from the vpc namespace (it reaches every subnet) ---------------------------------

  endpoints(): string {
    return this.demo.world.sets.map((s) => `http://${s.ip}:2379`).join(',');
  }

  etcdctl(args: string[], timeoutMs = 15_000): { status: number | null; stdout: string; stderr: string } {
    return this.net.execInVpc(
      ['etcdctl', `--endpoints=${this.endpoints()}`, '--dial-timeout=2s', '--command-timeout=5s', ...args],
      timeoutMs,
    );
  }

  members(): EtcdMember[] {
    const out = this.etcdctl(['member', 'list']);
    if (out.status !== 0) return [];
    return out.stdout
      .trim()
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(',').map((f) => f.trim()))
      .map(([id, , name, peerUrl, clientUrl]) => ({
        id: id ?? '',
        name: name ?? '',
        peerUrl: peerUrl ?? '',
        clientUrl: clientUrl ?? '',
      }))
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  /** Members `endpoint health --cluster` calls healthy. */
  healthy(): number {
    const out = this.etcdctl(['endpoint', 'health', '--cluster']);
    return `${out.stdout}\n${out.stderr}`.split('\n').filter((l) => / is healthy/.test(l)).length;
  }

  /** Waits (real time, bounded) until `want` members are healthy; returns the count at the end. */
  waitHealthy(want = 3, timeoutMs = 60_000): number {
    const deadline = Date.now() + timeoutMs;
    let count = this.healthy();
    while (count < want && Date.now() < deadline) {
      spawnSync('sleep', ['0.5']);
      count = this.healthy();
    }
    return count;
  }

  /** Writes keys `<prefix>/0..n-1` with one etcdctl each (bounded: one script, 60 s); returns how many succeeded. */
  put(prefix: string, n: number): number {
    const script = `ok=0; for i in $(seq 0 ${n - 1}); do etcdctl --endpoints=${this.endpoints()} --command-timeout=5s put ${prefix}/$i value-$i >/dev/null && ok=$((ok + 1)); done; echo $ok`;
    const out = this.net.execInVpc(['timeout', '60', 'bash', '-c', script], 70_000);
    return Number(out.stdout.trim().split('\n').pop() ?? 0) || 0;
  }

  /** Keys under a prefix whose value is `value-<i>`, read back in one call. */
  read(prefix: string): Map<string, string> {
    const out = this.etcdctl(['get', '--prefix', `${prefix}/`]);
    const lines = out.stdout.split('\n');
    const kv = new Map<string, string>();
    for (let i = 0; i + 1 < lines.length; i += 2) kv.set(lines[i] ?? '', lines[i + 1] ?? '');
    return kv;
  }

  /** The pid of an instance's etcd (the unit-runner's pid file), if it runs. */
  etcdPid(instanceId: string): number | undefined {
    const file = join(this.net.unitStateDir(instanceId), `${ETCD_UNIT}.pid`);
    if (!existsSync(file)) return undefined;
    const pid = Number(readFileSync(file, 'utf8').trim());
    try {
      process.kill(pid, 0);
      return pid;
    } catch {
      return undefined;
    }
  }

  /** The data directory of an instance's member (host path). */
  dataDir(instanceId: string): string {
    return this.demo.host.hostPath(instanceId, etcdDataDir(ETCD_MOUNT_POINT));
  }

  // --- a boot -----------------------------------------------------------------------------------

  /**
   * `mount -a` as boot runs it, for the instance's fstab: each line's `UUID=` looked up among the
   * devices the instance sees now (its by-id folder); a missing one with `nofail` is skipped.
   */
  mountAll(instanceId: string): string[] {
    const report: string[] = [];
    const fstab = this.demo.host.hostPath(instanceId, '/etc/fstab');
    if (!existsSync(fstab)) return report;
    const byId = join(this.demo.host.instanceDir(instanceId), 'by-id');
    const devices = existsSync(byId) ? readdirSync(byId).map((e) => join(byId, e)) : [];
    for (const line of readFileSync(fstab, 'utf8').split('\n')) {
      const [spec, target, fstype, options] = line.trim().split(/\s+/);
      if (!spec || spec.startsWith('#') || !target || !fstype) continue;
      const uuid = spec.startsWith('UUID=') ? spec.slice(5) : undefined;
      const found = devices.filter(
        (d) =>
          spawnSync('blkid', ['-p', '-s', 'UUID', '-o', 'value', d], { encoding: 'utf8' }).stdout.trim() ===
          uuid,
      );
      const where = this.demo.host.hostPath(instanceId, target);
      if (found.length === 0) {
        report.push(
          `${spec} ${target}: no such device${options?.includes('nofail') ? ' (nofail: boot goes on)' : ''}`,
        );
        continue;
      }
      if (fstype === 'btrfs') spawnSync('btrfs', ['device', 'scan', ...found]);
      mkdirSync(where, { recursive: true });
      const out = spawnSync('mount', ['-t', fstype, found[0] ?? '', where], { encoding: 'utf8' });
      report.push(
        `${spec} ${target}: ${out.status === 0 ? 'mounted' : `mount failed: ${out.stderr.trim()}`}`,
      );
    }
    return report;
  }

  /** Starts the enabled units (multi-user.target.wants), the node network first; exit status per unit. */
  startEnabled(instanceId: string): Record<string, number> {
    const wants = this.demo.host.hostPath(instanceId, '/etc/systemd/system/multi-user.target.wants');
    const units = existsSync(wants) ? readdirSync(wants).sort() : [];
    units.sort(
      (a, b) => Number(b === 'berth-node-network.service') - Number(a === 'berth-node-network.service'),
    );
    // A boot starts from no unit state: the oneshot network unit (RemainAfterExit) runs again.
    const state = this.net.unitStateDir(instanceId);
    for (const entry of readdirSync(state)) if (/\.(state|pid)$/.test(entry)) rmSync(join(state, entry));
    const result: Record<string, number> = {};
    for (const unit of units) result[unit] = this.net.systemctl(instanceId, 'start', unit).status ?? -1;
    return result;
  }

  cleanup(keep = false): void {
    this.demo.cleanup(keep);
  }
}

// --- the claims ---------------------------------------------------------------------------------

/**
 * How long a recovery took: the cloud's part in virtual time (boot, attach, SSM delivery and the
 * handlers' waits, as the local cloud models them; host scripts take none of it) up to the new
 * holder's prepare-node, plus the hosts' part in real time (the scripts and this process's handler
 * work until the cloud was quiet, then etcd rejoining until all members answer healthy).
 */
export interface Recovery {
  recoverySeconds: number;
  cloudSeconds: number;
  hostSeconds: number;
  /** Virtual seconds from the start to the old holder's quiesce-node (absent without the hook). */
  quiescedAtSeconds?: number;
  /** Virtual seconds from the start to the new holder's prepare-node. */
  preparedAtSeconds: number;
  /** Real seconds of the scripts and handlers (until the cloud was quiet). */
  scriptsSeconds: number;
  /** Real seconds from then until every member was healthy. */
  etcdRejoinSeconds: number;
}

interface Stopwatch {
  /** The cloud is quiet: what follows is etcd rejoining. */
  settled(): void;
  done(): Recovery;
}

const round1 = (n: number): number => Math.round(n * 10) / 10;

/** Starts a recovery's clocks for a member whose holder is `old` now. */
function stopwatch(e: EtcdDemo, nodeId: string, old: string): Stopwatch {
  const real = Date.now();
  const virtual = e.demo.cloud.clock.now();
  let settledAt = real;
  return {
    settled: () => (settledAt = Date.now()),
    done: () => {
      const holder = e.demo.world.holder(nodeId);
      const runs = e.demo.executor.runs.filter((r) => r.at >= virtual && r.exitCode === 0);
      const prepared = runs.find((r) => r.instanceId === holder && r.script === 'prepare-node');
      const quiesced = runs.find((r) => r.instanceId === old && r.script === 'quiesce-node');
      const cloudSeconds = ((prepared?.at ?? e.demo.cloud.clock.now()) - virtual) / 1000;
      const hostSeconds = (Date.now() - real) / 1000;
      return {
        recoverySeconds: round1(cloudSeconds + hostSeconds),
        cloudSeconds: round1(cloudSeconds),
        hostSeconds: round1(hostSeconds),
        ...(quiesced ? { quiescedAtSeconds: round1((quiesced.at - virtual) / 1000) } : {}),
        preparedAtSeconds: round1(cloudSeconds),
        scriptsSeconds: round1((settledAt - real) / 1000),
        etcdRejoinSeconds: round1((Date.now() - settledAt) / 1000),
      };
    },
  };
}

export function describeRecovery(r: Recovery): string {
  return `${r.recoverySeconds} s (${r.cloudSeconds} s of cloud time + ${r.hostSeconds} s on the hosts)`;
}

const ipOf = (url: string): string => /\/\/([^:/]+)/.exec(url)?.[1] ?? '';

/** 1. Three instances take the three sets; etcd forms a 3-member cluster on the set IPs; N keys. */
export async function claimClusterUp(e: EtcdDemo, check: ClaimCheck): Promise<void> {
  const { demo } = e;
  demo.timeline.section('1. three instances take the three sets; etcd forms a cluster on the set IPs');
  demo.world.launch(3);
  await demo.settle();
  for (const set of demo.world.sets) {
    const holder = demo.world.holder(set.nodeId);
    check.expect(holder !== undefined, `${set.nodeId} is held by ${holder ?? 'nobody'}`);
  }
  const healthy = e.waitHealthy(3);
  check.equal(healthy, 3, 'etcdctl endpoint health --cluster: 3 healthy');
  e.initialMembers = e.members();
  check.equal(
    e.initialMembers.map((m) => [m.name, ipOf(m.peerUrl)]),
    demo.world.sets.map((s) => [s.nodeId, s.ip]),
    `members ${e.initialMembers.map((m) => `${m.name}=${m.id}@${ipOf(m.peerUrl)}`).join(', ')} (NodeID names, set IPs)`,
  );
  e.summary.members = e.initialMembers.length;
  const written = e.put('berth', e.keys);
  e.summary.keysWritten = written;
  check.equal(written, e.keys, `${written} keys written under berth/`);
  check.equal(e.net.hookErrors, [], 'the network world had no hook error');
}

/** 2. A member's instance is terminated through its hook; the replacement brings the same member back. */
export async function claimMemberReplaced(e: EtcdDemo, check: ClaimCheck, nodeId = 'node-1'): Promise<void> {
  const { demo } = e;
  demo.timeline.section(
    `2. ${nodeId}'s instance is terminated (hook); its replacement rejoins as the same member`,
  );
  const old = demo.world.holder(nodeId);
  if (!check.expect(old !== undefined, `${nodeId} has a holder`) || !old) return;
  const watch = stopwatch(e, nodeId, old);
  demo.world.terminate(old);
  demo.timeline.step(`Auto Scaling terminates ${old} (${nodeId}); it waits in Terminating:Wait for berth`);
  await demo.settle();
  watch.settled();
  const holder = expectMoved(demo, check, nodeId, old);
  expectQuiesced(demo, check, old, 'etcd stopped, unmounted');
  const healthy = e.waitHealthy(3);
  const took = watch.done();
  e.replacedRecovery = took;
  e.summary.recoverySeconds = took.recoverySeconds;
  if (healthy === 3) e.summary.replaced += 1;
  check.equal(healthy, 3, `3 members healthy ${describeRecovery(took)} after the terminate`);
  sameMembers(e, check);
  if (holder)
    check.expect(existsSync(join(e.dataDir(holder), 'member', 'wal')), `${holder}: the WAL is there`);
  const read = e.read('berth');
  check.equal(read.size, e.keys, `${read.size} of ${e.keys} keys read back`);
}

/** 3. A member's instance dies without its hook; the reconciler and the replacement recover it. */
export async function claimMemberKilled(e: EtcdDemo, check: ClaimCheck, nodeId = 'node-0'): Promise<void> {
  const { demo } = e;
  demo.timeline.section(`3. ${nodeId}'s instance dies without its hook; the member comes back from its WAL`);
  const old = demo.world.holder(nodeId);
  if (!check.expect(old !== undefined, `${nodeId} has a holder`) || !old) return;
  const watch = stopwatch(e, nodeId, old);
  const pid = e.etcdPid(old);
  if (pid !== undefined) process.kill(-pid, 'SIGKILL');
  const released = demo.host.releaseHost(old);
  demo.cloud.ec2.terminateInstance(old);
  demo.timeline.step(
    `${old}: etcd (pid ${pid ?? '?'}) SIGKILLed, ${released.join(', ') || 'nothing'} released; EC2 terminates it behind the group's back`,
  );
  // Auto Scaling's health check finds it not running and replaces it (local-cloud's lifecycle).
  await demo.settle();
  await demo.world.reconcile();
  await demo.settle();
  watch.settled();
  const holder = expectMoved(demo, check, nodeId, old);
  const healthy = e.waitHealthy(3);
  e.killedRecovery = watch.done();
  if (healthy === 3) e.summary.killed += 1;
  check.equal(healthy, 3, `3 members healthy ${describeRecovery(e.killedRecovery)} after the kill`);
  sameMembers(e, check);
  if (holder)
    check.expect(
      existsSync(join(e.dataDir(holder), 'member', 'wal')),
      `${holder}: the WAL it came back from is there`,
    );
  check.equal(e.read('berth').size, e.keys, `all ${e.keys} keys read back`);
}

/** 4. A member's btrfs grows by a volume while etcd keeps writing; nothing is lost. */
export async function claimGrowsWhileWriting(
  e: EtcdDemo,
  check: ClaimCheck,
  nodeId = 'node-2',
): Promise<void> {
  const { demo } = e;
  // A writer in the vpc namespace, bounded in count and time; it prints every acknowledged index.
  const writer = spawn(
    'nsenter',
    [
      `--net=/run/netns/${e.net.vpcNs}`,
      'timeout',
      '240',
      'bash',
      '-c',
      `for i in $(seq 0 1999); do etcdctl --endpoints=${e.endpoints()} --command-timeout=5s put grow/$i value-$i >/dev/null 2>&1 && echo $i; sleep 0.05; done`,
    ],
    { stdio: ['ignore', 'pipe', 'ignore'] },
  );
  let acked = '';
  writer.stdout.setEncoding('utf8').on('data', (chunk: string) => (acked += chunk));
  const ended = new Promise<void>((done) => writer.on('close', () => done()));
  const count = (): number => acked.split('\n').filter(Boolean).length;
  /** Waits (real time, at most 15 s) until the writer has `n` more acknowledged writes. */
  const more = async (n: number): Promise<number> => {
    const from = count();
    for (let i = 0; i < 150 && count() < from + n; i++) await new Promise((r) => setTimeout(r, 100));
    return count() - from;
  };
  let before = 0;
  let during = 0;
  let after = 0;
  try {
    before = await more(20);
    const at = count();
    await claimGrows(demo, check, nodeId, 4);
    during = count() - at;
    after = await more(20);
  } finally {
    writer.kill('SIGTERM');
    await ended;
  }
  const ackedKeys = acked.split('\n').filter(Boolean);
  demo.timeline.step(
    `etcd writer: ${before} writes before the grow, ${during} while it ran, ${after} after; ${ackedKeys.length} in all`,
  );
  check.expect(after >= 20, `etcd keeps taking writes after the grow (${after})`);
  const read = e.read('grow');
  check.expect(ackedKeys.length > 0, `etcd took ${ackedKeys.length} writes while the filesystem grew`);
  check.equal(
    ackedKeys.filter((i) => read.get(`grow/${i}`) !== `value-${i}`),
    [],
    `every acknowledged write reads back (${read.size} keys under grow/)`,
  );
  check.equal(e.waitHealthy(3), 3, '3 members healthy');
}

/** 5. A node reboots with its volume missing: etcd must not start on the empty mount point. */
export async function claimEmptyStartRefused(
  e: EtcdDemo,
  check: ClaimCheck,
  nodeId = 'node-1',
): Promise<void> {
  const { demo } = e;
  demo.timeline.section(
    `5. ${nodeId}'s node reboots with its volume missing: etcd refuses the empty directory`,
  );
  const holder = demo.world.holder(nodeId);
  if (!check.expect(holder !== undefined, `${nodeId} has a holder`) || !holder) return;
  const mount = demo.host.hostPath(holder, ETCD_MOUNT_POINT);
  check.equal(e.net.systemctl(holder, 'stop', ETCD_UNIT).status, 0, `${holder}: systemctl stop ${ETCD_UNIT}`);
  check.equal(spawnSync('umount', [mount]).status, 0, `${holder}: ${ETCD_MOUNT_POINT} unmounted`);
  // The volume is missing at boot (not attached yet, or lost): the instance sees no device for it.
  const byId = join(demo.host.instanceDir(holder), 'by-id');
  for (const entry of readdirSync(byId)) rmSync(join(byId, entry));
  e.net.resetNetwork(holder);
  const mounts = e.mountAll(holder);
  demo.timeline.step(`${holder} boots: mount -a: ${mounts.join('; ') || 'nothing in fstab'}`);
  const started = e.startEnabled(holder);
  demo.timeline.step(
    `${holder} boots: start ${Object.entries(started)
      .map(([u, s]) => `${u}=${s}`)
      .join(', ')}`,
  );
  const refused =
    (started[ETCD_UNIT] ?? 0) !== 0 &&
    e.etcdPid(holder) === undefined &&
    !demo.host.isMounted(holder, ETCD_MOUNT_POINT) &&
    !existsSync(e.dataDir(holder));
  const calls = readFileSync(join(e.net.unitStateDir(holder), 'calls.log'), 'utf8')
    .trim()
    .split('\n');
  const refusal = calls.reverse().find((l) => l.includes(`"start","${ETCD_UNIT}"`)) ?? '';
  check.expect(
    /AssertPathIsMountPoint|RequiresMountsFor/.test(refusal),
    `the refusal came from berth's drop-ins: ${(JSON.parse(refusal || '{}') as { message?: string }).message ?? '?'}`,
  );
  e.summary.emptyStartRefused = refused;
  check.expect(
    refused,
    `${ETCD_UNIT} was refused: not running, ${ETCD_MOUNT_POINT} empty (no etcd data on the root disk)`,
  );
  check.equal(e.waitHealthy(2, 5_000), 2, 'the two other members stay healthy');
  // The volume is back (attached late): the next boot mounts it and the member rejoins.
  demo.host.refreshDevices(holder);
  e.net.resetNetwork(holder);
  const again = e.mountAll(holder);
  const restarted = e.startEnabled(holder);
  demo.timeline.step(
    `${holder} boots again with its volume: ${again.join('; ')}; ${ETCD_UNIT}=${restarted[ETCD_UNIT]}`,
  );
  check.equal(restarted[ETCD_UNIT], 0, `${ETCD_UNIT} starts once its volume is mounted`);
  const healthy = e.waitHealthy(3);
  e.summary.healthy = healthy;
  check.equal(healthy, 3, '3 members healthy');
  sameMembers(e, check);
  const read = e.read('berth');
  e.summary.keysRead = [...Array(e.keys).keys()].filter(
    (i) => read.get(`berth/${i}`) === `value-${i}`,
  ).length;
  check.equal(e.summary.keysRead, e.keys, `all ${e.keys} keys read back`);
}

/** The members are the first ones: same ids, names, peer URLs; the IPs are the sets'. */
function sameMembers(e: EtcdDemo, check: ClaimCheck): void {
  const now = e.members();
  const key = (m: EtcdMember): string => `${m.id} ${m.name} ${m.peerUrl}`;
  e.summary.memberIdsKept =
    now.length === e.initialMembers.length && now.map(key).join('|') === e.initialMembers.map(key).join('|');
  e.summary.ipsKept = e.demo.world.sets.every((s) => {
    const member = now.find((m) => m.name === s.nodeId);
    const holder = e.demo.world.holder(s.nodeId);
    return (
      member !== undefined &&
      ipOf(member.peerUrl) === s.ip &&
      (!holder || e.demo.envFile(holder)?.NODE_IP === s.ip)
    );
  });
  check.expect(e.summary.memberIdsKept, `same members (no add/remove): ${now.map(key).join(', ')}`);
  check.expect(e.summary.ipsKept, 'every member on its set IP (peer URL and env file)');
}

/** The whole etcd demo: the five claims in order, then the summary line's numbers. */
export async function runEtcdDemo(
  e: EtcdDemo,
  onClaim: (result: ClaimResult) => void = () => undefined,
): Promise<ClaimResult[]> {
  const claims: [string, (e: EtcdDemo, c: ClaimCheck) => Promise<void>][] = [
    ['a 3-member etcd cluster on the three sets; N keys written', claimClusterUp],
    ['node-1 terminated through its hook: the same member rejoins, all keys there', claimMemberReplaced],
    ['node-0 killed without its hook: the member comes back from its WAL', claimMemberKilled],
    ["node-2's btrfs grows by a volume while etcd writes; nothing lost", claimGrowsWhileWriting],
    ['a reboot with the volume missing: etcd refuses the empty directory', claimEmptyStartRefused],
  ];
  const results: ClaimResult[] = [];
  for (const [i, [title, claim]] of claims.entries()) {
    const result = await runClaim(i + 1, title, (c) => claim(e, c));
    results.push(result);
    onClaim(result);
  }
  return results;
}
