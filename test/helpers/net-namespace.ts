/**
 * One network namespace that stands for one instance's network, for the agent-script tests: its
 * interfaces are veth pairs whose both ends stay inside it (nothing reaches the machine's own
 * network), each with the MAC an ENI would have. `wrap` runs a command inside it the way the
 * scripts run on a host: `nsenter --net` changes the network namespace only, so mounts the scripts
 * make stay visible (`ip netns exec` would also unshare the mount namespace).
 * Needs root; `cleanup()` deletes the namespace (and with it every interface) even after a failure.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export class NetNamespace {
  private interfaces = 0;

  private constructor(readonly name: string) {}

  static create(prefix = 'berth-t'): NetNamespace {
    const name = `${prefix}-${randomBytes(4).toString('hex')}`;
    const out = spawnSync('ip', ['netns', 'add', name], { encoding: 'utf8' });
    if (out.status !== 0) {
      throw new Error(
        `cannot create network namespace ${name} (${(out.stderr || String(out.error)).trim()}): ` +
          'the host-side tests need root and iproute2',
      );
    }
    const ns = new NetNamespace(name);
    ns.ip('link', 'set', 'lo', 'up');
    return ns;
  }

  /** The command prefix that runs a program inside the namespace. */
  get wrap(): string[] {
    return ['nsenter', `--net=/run/netns/${this.name}`];
  }

  /** Runs `ip` inside the namespace; throws with its error output on failure. */
  ip(...args: string[]): string {
    return execFileSync('ip', ['-n', this.name, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
    });
  }

  /** Runs a command inside the namespace. */
  exec(command: string, args: readonly string[], env?: NodeJS.ProcessEnv) {
    return spawnSync(this.wrap[0] as string, [...this.wrap.slice(1), command, ...args], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 30_000,
      ...(env ? { env } : {}),
    });
  }

  /** Adds an interface with a MAC (an ENI as the host sees it: present, down, no address). */
  addInterface(name: string, mac: string): void {
    const peer = `peer${this.interfaces++}`;
    this.ip('link', 'add', name, 'address', mac, 'type', 'veth', 'peer', 'name', peer);
    this.ip('link', 'set', peer, 'up');
  }

  /** `ip -4 addr` of an interface, one `address/prefix` per line. */
  addresses(device: string): string[] {
    return this.ip('-o', '-4', 'addr', 'show', 'dev', device)
      .split('\n')
      .filter(Boolean)
      .map((line) => line.split(/\s+/)[3] ?? '');
  }

  cleanup(): void {
    spawnSync('ip', ['netns', 'del', this.name]);
  }
}
