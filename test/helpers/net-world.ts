/**
 * The network of the local cloud, on this machine: every instance is a Linux network namespace and
 * every ENI a veth pair, all on ONE bridge that lives in a "vpc" namespace of this world (never in
 * the machine's root namespace: no uplink, no route off the machine). The vpc namespace is the VPC
 * router: the bridge carries each subnet's `.1` (EC2 reserves base+1 for the VPC router) and
 * forwards between subnets.
 *
 * - An instance's namespace is made when the world first needs it (its first script, its first
 *   ENI): `eth0` carries its primary private IP, default route via its subnet's `.1`.
 * - An ENI is a veth pair: the bridge end in the vpc namespace, the ENI end (the ENI's MAC) in a
 *   parking namespace while no instance holds it. When its attachment becomes `attached`, the ENI
 *   end moves into the holder's namespace UNCONFIGURED (moving a link between namespaces drops its
 *   addresses): berth's prepare-node configures it by MAC. Detach or termination moves it back.
 * - A terminated instance's namespace goes away with every process still in it.
 *
 * Scripts run inside an instance's namespace through `wrapFor` (`nsenter --net=…`, not `ip netns
 * exec`, which unshares the mount namespace: prepare-node's mounts would vanish with the script),
 * with `unit-runner.js` as their systemctl (`envFor`). Names carry a random suffix, so parallel
 * worlds never collide; `cleanup()` removes every namespace, link and process it made, even after a
 * failed test (and at process exit).
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { LocalCloud } from '../../local-cloud/src';
import type { LocalNetworkInterface } from '../../local-cloud/src/ec2';
import type { HostWorld } from './host-world';

export const UNIT_RUNNER = resolve(__dirname, 'unit-runner.js');
/** Real-time cap of every command the world runs. */
const COMMAND_TIMEOUT_MS = 15_000;

interface InstanceNet {
  ns: string;
  link: string;
}

interface EniNet {
  /** The bridge end, in the vpc namespace. */
  vpcEnd: string;
  /** The ENI end's name (wherever it is). */
  eniEnd: string;
  /** The namespace the ENI end is in now. */
  ns: string;
}

export interface CommandResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

const open = new Set<NetWorld>();
process.on('exit', () => {
  for (const world of open) {
    try {
      world.cleanup();
    } catch (error) {
      console.error(error);
    }
  }
});

/** Whether this machine can make network namespaces (root, `ip`, `nsenter`); throws saying why not. */
export function assertNetnsAvailable(): void {
  const reasons: string[] = [];
  if (typeof process.getuid === 'function' && process.getuid() !== 0)
    reasons.push(`network namespaces need root (uid ${process.getuid()})`);
  for (const tool of ['ip', 'nsenter']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) reasons.push(`${tool} is not installed`);
  }
  if (reasons.length > 0) throw new Error(`network namespaces are unavailable here: ${reasons.join('; ')}`);
}

export class NetWorld {
  /** Random suffix of every name this world makes. */
  readonly id = randomBytes(3).toString('hex');
  readonly vpcNs: string;
  readonly parkNs: string;
  /** Errors raised inside the EC2 hooks (a hook cannot throw into the model's API call). */
  readonly hookErrors: string[] = [];
  private readonly instances = new Map<string, InstanceNet>();
  private readonly enis = new Map<string, EniNet>();
  private readonly namespaces: string[] = [];
  private links = 0;

  private constructor(
    readonly cloud: LocalCloud,
    readonly host: HostWorld,
  ) {
    this.vpcNs = `berth-${this.id}-vpc`;
    this.parkNs = `berth-${this.id}-park`;
  }

  /** Makes the vpc and parking namespaces and plugs the world into the cloud's EC2 hooks. */
  static create(cloud: LocalCloud, host: HostWorld): NetWorld {
    assertNetnsAvailable();
    const world = new NetWorld(cloud, host);
    open.add(world);
    try {
      world.makeVpc();
    } catch (error) {
      world.cleanup();
      throw error;
    }
    const previous = { ...cloud.ec2.hooks };
    cloud.ec2.hooks.networkInterfaceAttached = (eni, instanceId) => {
      world.guard(`attach ${eni.networkInterfaceId}`, () => world.onAttached(eni, instanceId));
      previous.networkInterfaceAttached?.(eni, instanceId);
    };
    cloud.ec2.hooks.networkInterfaceDetached = (eni, instanceId) => {
      world.guard(`detach ${eni.networkInterfaceId}`, () => world.onDetached(eni));
      previous.networkInterfaceDetached?.(eni, instanceId);
    };
    cloud.ec2.hooks.instanceTerminated = (instance) => {
      world.guard(`terminate ${instance.instanceId}`, () => world.removeInstance(instance.instanceId));
      previous.instanceTerminated?.(instance);
    };
    return world;
  }

  /** The namespace of an instance (made now if needed). */
  ns(instanceId: string): string {
    return this.instance(instanceId).ns;
  }

  /** Whether the instance has a namespace now. */
  hasNamespace(instanceId: string): boolean {
    return this.instances.has(instanceId);
  }

  /** The command prefix that runs a command inside an instance's network namespace. */
  wrapFor(instanceId: string): string[] {
    return ['nsenter', `--net=/run/netns/${this.ns(instanceId)}`];
  }

  /** The environment of an instance's scripts: the host world's, with the unit-runner as systemctl. */
  envFor(instanceId: string): Record<string, string> {
    return {
      ...this.host.envFor(instanceId),
      BERTH_SYSTEMCTL: UNIT_RUNNER,
      BERTH_UNIT_STATE_DIR: this.unitStateDir(instanceId),
      // /proc/sys/net is the caller's namespace's: the real one is the instance's here.
      BERTH_PROC_SYS: '/proc/sys',
      BERTH_IFACE_WAIT_SECONDS: '5',
    };
  }

  /** Where the unit-runner of an instance keeps pid files, logs and its call log. */
  unitStateDir(instanceId: string): string {
    const dir = join(this.host.instanceDir(instanceId), 'units');
    mkdirSync(dir, { recursive: true });
    return dir;
  }

  /** Runs a command inside an instance's namespace (bounded in time), with extra environment. */
  exec(
    instanceId: string,
    argv: string[],
    timeoutMs = COMMAND_TIMEOUT_MS,
    env: Record<string, string> = {},
  ): CommandResult {
    return this.run([...this.wrapFor(instanceId), ...argv], timeoutMs, env);
  }

  /** Runs the instance's systemctl (the unit-runner) inside its namespace, as its scripts do. */
  systemctl(instanceId: string, ...args: string[]): CommandResult {
    // Not envFor: that refreshes the instance's devices, and a boot must see them as they are.
    return this.exec(instanceId, [UNIT_RUNNER, ...args], 60_000, {
      BERTH_HOST_ROOT: join(this.host.instanceDir(instanceId), 'host'),
      BERTH_UNIT_STATE_DIR: this.unitStateDir(instanceId),
    });
  }

  /** Runs a command inside the vpc namespace (it reaches every subnet). */
  execInVpc(argv: string[], timeoutMs = COMMAND_TIMEOUT_MS): CommandResult {
    return this.run(['nsenter', `--net=/run/netns/${this.vpcNs}`, ...argv], timeoutMs);
  }

  /** The name of an ENI's interface (the ENI end of its veth pair). */
  eniLink(eniId: string): string | undefined {
    return this.enis.get(eniId)?.eniEnd;
  }

  /** The namespace an ENI's interface is in now. */
  eniNamespace(eniId: string): string | undefined {
    return this.enis.get(eniId)?.ns;
  }

  /** Namespaces of this world that exist now (from `ip netns list`). */
  listNamespaces(): string[] {
    return this.run(['ip', 'netns', 'list'])
      .stdout.split('\n')
      .map((l) => l.split(' ')[0] ?? '')
      .filter((n) => n.startsWith(`berth-${this.id}-`));
  }

  /**
   * A reboot's network side: what the OS configured at runtime is gone (the ENIs' addresses, every
   * policy rule but the kernel's defaults and the routes of their tables); the primary interface
   * comes back as the image configures it.
   */
  resetNetwork(instanceId: string): void {
    const ns = this.ns(instanceId);
    for (const eni of this.enis.values()) {
      if (eni.ns !== ns) continue;
      this.run(['ip', '-n', ns, 'addr', 'flush', 'dev', eni.eniEnd]);
      this.run(['ip', '-n', ns, 'link', 'set', eni.eniEnd, 'down']);
    }
    const rules = this.run(['ip', '-n', ns, '-4', 'rule', 'show']).stdout.split('\n');
    for (const rule of rules.slice(0, 64)) {
      const match = /^(\d+):.*lookup (\S+)/.exec(rule);
      if (!match || ['0', '32766', '32767'].includes(match[1] ?? '')) continue;
      this.run(['ip', '-n', ns, 'rule', 'del', 'priority', match[1] ?? '']);
      this.run(['ip', '-n', ns, 'route', 'flush', 'table', match[2] ?? '']);
    }
  }

  /** Leaves the namespaces and their processes in place at process exit (the demo's --keep). */
  keep(): void {
    open.delete(this);
  }

  /**
   * Removes every namespace, link and process this world made (kills the processes in its
   * namespaces first: a process keeps a deleted namespace, and its links, alive). Throws if
   * something is left.
   */
  cleanup(): void {
    const problems: string[] = [];
    const mine = new Set([...this.namespaces, ...this.listNamespaces()]);
    for (const ns of mine) this.killAll(ns);
    for (const ns of mine) {
      const out = this.run(['ip', 'netns', 'del', ns]);
      if (out.status !== 0 && existsSync(`/run/netns/${ns}`))
        problems.push(`ip netns del ${ns}: ${out.stderr.trim()}`);
    }
    this.instances.clear();
    this.enis.clear();
    this.namespaces.length = 0;
    const left = this.listNamespaces();
    if (left.length > 0) problems.push(`namespaces left: ${left.join(', ')}`);
    open.delete(this);
    if (problems.length > 0) throw new Error(`network world cleanup failed: ${problems.join('; ')}`);
  }

  // --- making the network -----------------------------------------------------------------------

  private makeVpc(): void {
    this.addNamespace(this.vpcNs);
    this.addNamespace(this.parkNs);
    this.ip(this.vpcNs, ['link', 'add', 'br0', 'type', 'bridge']);
    this.ip(this.vpcNs, ['link', 'set', 'br0', 'up']);
    for (const subnet of this.cloud.ec2.subnets()) {
      const { router, bits } = subnetRouter(subnet.cidr);
      this.ip(this.vpcNs, ['addr', 'add', `${router}/${bits}`, 'dev', 'br0']);
    }
    this.sysctl(this.vpcNs, 'net.ipv4.ip_forward=1');
  }

  private addNamespace(ns: string): void {
    this.mustRun(['ip', 'netns', 'add', ns]);
    this.namespaces.push(ns);
    this.ip(ns, ['link', 'set', 'lo', 'up']);
  }

  private instance(instanceId: string): InstanceNet {
    const known = this.instances.get(instanceId);
    if (known) return known;
    const view = this.cloud.ec2.instance(instanceId);
    if (!view) throw new Error(`net world: unknown instance ${instanceId}`);
    const subnet = this.cloud.ec2.subnets().find((s) => s.subnetId === view.subnetId);
    if (!subnet) throw new Error(`net world: unknown subnet ${view.subnetId} of ${instanceId}`);
    const { router, bits } = subnetRouter(subnet.cidr);
    const ns = `berth-${this.id}-${instanceId}`;
    const link = `p${++this.links}`;
    this.addNamespace(ns);
    const net = { ns, link };
    this.instances.set(instanceId, net);
    this.ip(this.vpcNs, ['link', 'add', link, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns]);
    this.ip(this.vpcNs, ['link', 'set', link, 'master', 'br0', 'up']);
    this.ip(ns, ['addr', 'add', `${view.privateIp}/${bits}`, 'dev', 'eth0']);
    this.ip(ns, ['link', 'set', 'eth0', 'up']);
    this.ip(ns, ['route', 'add', 'default', 'via', router]);
    // Answer ARP for an address only on its own interface, as the VPC delivers by MAC and IP.
    this.sysctl(ns, 'net.ipv4.conf.all.arp_ignore=1');
    this.sysctl(ns, 'net.ipv4.conf.all.arp_announce=2');
    return net;
  }

  private eni(view: LocalNetworkInterface): EniNet {
    const known = this.enis.get(view.networkInterfaceId);
    if (known) return known;
    const n = ++this.links;
    const eni: EniNet = { vpcEnd: `v${n}`, eniEnd: `eni${n}`, ns: this.parkNs };
    this.ip(this.vpcNs, [
      'link',
      'add',
      eni.vpcEnd,
      'type',
      'veth',
      'peer',
      'name',
      eni.eniEnd,
      'netns',
      this.parkNs,
    ]);
    this.ip(this.parkNs, ['link', 'set', eni.eniEnd, 'address', view.macAddress]);
    this.ip(this.vpcNs, ['link', 'set', eni.vpcEnd, 'master', 'br0', 'up']);
    this.enis.set(view.networkInterfaceId, eni);
    return eni;
  }

  private onAttached(view: LocalNetworkInterface, instanceId: string): void {
    const eni = this.eni(view);
    const ns = this.ns(instanceId);
    if (eni.ns !== ns) this.moveEni(eni, ns);
  }

  private onDetached(view: LocalNetworkInterface): void {
    const eni = this.enis.get(view.networkInterfaceId);
    if (eni && eni.ns !== this.parkNs) this.moveEni(eni, this.parkNs);
  }

  private moveEni(eni: EniNet, to: string): void {
    if (existsSync(`/run/netns/${eni.ns}`)) {
      this.ip(eni.ns, ['link', 'set', eni.eniEnd, 'down']);
      this.ip(eni.ns, ['link', 'set', eni.eniEnd, 'netns', to]);
    }
    eni.ns = to;
  }

  private removeInstance(instanceId: string): void {
    const net = this.instances.get(instanceId);
    if (!net) return;
    for (const eni of this.enis.values()) if (eni.ns === net.ns) this.moveEni(eni, this.parkNs);
    this.killAll(net.ns);
    this.run(['ip', '-n', this.vpcNs, 'link', 'del', net.link]);
    this.run(['ip', 'netns', 'del', net.ns]);
    const index = this.namespaces.indexOf(net.ns);
    if (index >= 0) this.namespaces.splice(index, 1);
    this.instances.delete(instanceId);
  }

  /** SIGKILLs every process in a namespace; waits (bounded) until they are gone. */
  private killAll(ns: string): void {
    for (let attempt = 0; attempt < 20; attempt++) {
      const pids = this.run(['ip', 'netns', 'pids', ns])
        .stdout.split('\n')
        .map(Number)
        .filter((p) => p > 0 && p !== process.pid);
      if (pids.length === 0) return;
      for (const pid of pids) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      spawnSync('sleep', ['0.05']);
    }
  }

  // --- commands ---------------------------------------------------------------------------------

  private guard(what: string, action: () => void): void {
    try {
      action();
    } catch (error) {
      this.hookErrors.push(`${what}: ${error instanceof Error ? error.message : String(error)}`);
    }
  }

  private ip(ns: string, args: string[]): void {
    this.mustRun(['ip', '-n', ns, ...args]);
  }

  private sysctl(ns: string, setting: string): void {
    this.mustRun(['nsenter', `--net=/run/netns/${ns}`, 'sysctl', '-q', '-w', setting]);
  }

  private mustRun(argv: string[]): void {
    const out = this.run(argv);
    if (out.status !== 0) throw new Error(`${argv.join(' ')}: ${out.stderr.trim() || `exit ${out.status}`}`);
  }

  private run(
    argv: string[],
    timeoutMs = COMMAND_TIMEOUT_MS,
    env: Record<string, string> = {},
  ): CommandResult {
    const [command, ...args] = argv;
    const out = spawnSync(command ?? 'true', args, {
      encoding: 'utf8',
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: timeoutMs,
    });
    return {
      status: out.status,
      stdout: out.stdout ?? '',
      stderr: `${out.stderr ?? ''}${out.error ? String(out.error) : ''}`,
    };
  }
}

/** The VPC router's address of a subnet (base + 1) and the prefix length. */
export function subnetRouter(cidr: string): { router: string; bits: number } {
  const [address, bitsText] = cidr.split('/');
  const octets = (address ?? '').split('.').map(Number);
  const base = octets.reduce((n, o) => n * 256 + o, 0);
  const router = base + 1;
  return {
    router: [24, 16, 8, 0].map((shift) => Math.floor(router / 2 ** shift) % 256).join('.'),
    bits: Number(bitsText),
  };
}
