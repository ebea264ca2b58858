/**
 * The network world on the local cloud alone (no handlers): namespaces per instance on one bridge
 * in a vpc namespace, ENIs that move with their attachment, and a cleanup that leaves nothing.
 * Needs root (network namespaces, loop devices): fails loudly where they are unavailable.
 */
import { AttachNetworkInterfaceCommand, DetachNetworkInterfaceCommand } from '@aws-sdk/client-ec2';
import { spawn, spawnSync } from 'node:child_process';
import { LocalCloud } from '../../local-cloud/src';
import { HostWorld } from './host-world';
import { NetWorld, subnetRouter } from './net-world';

const AZS = ['eu-west-1a', 'eu-west-1b'];

function setUp(): { cloud: LocalCloud; host: HostWorld; net: NetWorld; subnets: Record<string, string> } {
  const cloud = new LocalCloud();
  const { subnets } = cloud.ec2.seedNetwork({ azs: AZS });
  const host = HostWorld.create(cloud, { name: 'berth-networld' });
  const net = NetWorld.create(cloud, host);
  return { cloud, host, net, subnets };
}

function running(cloud: LocalCloud, subnetId: string): string {
  const id = cloud.ec2.runInstance({ subnetId });
  cloud.clock.advance(cloud.ec2.timing.instanceBootMs);
  return id;
}

/** Whether `from`'s namespace opens a TCP connection to ip:port (bounded: 3 s). */
function connects(net: NetWorld, from: string, ip: string, port: number): boolean {
  return net.exec(from, ['timeout', '3', 'bash', '-c', `exec 3<>/dev/tcp/${ip}/${port}`], 5_000).status === 0;
}

describe('the network world', () => {
  it('computes a subnet’s router address (base + 1)', () => {
    expect(subnetRouter('10.0.16.0/20')).toEqual({ router: '10.0.16.1', bits: 20 });
  });

  it('puts instances in namespaces that reach each other across subnets, and moves an ENI with its attachment, unconfigured', async () => {
    const { cloud, host, net, subnets } = setUp();
    const listeners: ReturnType<typeof spawn>[] = [];
    try {
      const a = running(cloud, subnets[AZS[0] ?? ''] ?? '');
      const b = running(cloud, subnets[AZS[1] ?? ''] ?? '');
      const eniId = cloud.ec2.seedNetworkInterface({ subnetId: subnets[AZS[0] ?? ''] ?? '' });
      const mac = cloud.ec2.networkInterface(eniId)?.macAddress ?? '';
      const bIp = cloud.ec2.instance(b)?.privateIp ?? '';
      // A listener in b's namespace (ends by itself after 20 s at most).
      listeners.push(
        spawn(
          'nsenter',
          [
            `--net=/run/netns/${net.ns(b)}`,
            'timeout',
            '20',
            'python3',
            '-c',
            'import socket\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(("0.0.0.0",7001))\ns.listen()\nwhile True: s.accept()[0].close()',
          ],
          { stdio: 'ignore' },
        ),
      );
      spawnSync('sleep', ['0.5']);
      const { ec2 } = cloud.clients({ maxAttempts: 1, retryDelayMs: 0 });

      const crossSubnet = connects(net, a, bIp, 7001);
      const { AttachmentId } = await ec2.send(
        new AttachNetworkInterfaceCommand({ NetworkInterfaceId: eniId, InstanceId: a, DeviceIndex: 1 }),
      );
      const whileAttaching = net.exec(a, ['ip', '-o', 'link']).stdout;
      cloud.clock.advance(cloud.ec2.timing.attachMs);
      cloud.ec2.networkInterface(eniId);
      const attachedLinks = net.exec(a, ['ip', '-o', 'link']).stdout;
      const link = net.eniLink(eniId) ?? '?';
      const attachedAddresses = net.exec(a, ['ip', '-o', '-4', 'addr', 'show', 'dev', link]).stdout;
      await ec2.send(new DetachNetworkInterfaceCommand({ AttachmentId }));
      cloud.clock.advance(cloud.ec2.timing.detachMs);
      cloud.ec2.networkInterface(eniId);
      const detachedLinks = net.exec(a, ['ip', '-o', 'link']).stdout;
      cloud.ec2.terminateInstance(b);
      cloud.clock.advance(cloud.ec2.timing.instanceTerminateMs);
      cloud.ec2.instance(b);

      expect(net.hookErrors).toEqual([]);
      expect(crossSubnet).toBe(true);
      expect(whileAttaching).not.toContain(mac);
      expect(attachedLinks).toContain(`link/ether ${mac}`);
      expect(attachedAddresses).toBe('');
      expect(detachedLinks).not.toContain(mac);
      expect(net.eniNamespace(eniId)).toBe(net.parkNs);
      expect(net.hasNamespace(b)).toBe(false);
      expect(net.listNamespaces()).not.toContain(`berth-${net.id}-${b}`);
    } finally {
      for (const l of listeners) l.kill('SIGKILL');
      net.cleanup();
      host.cleanup();
    }
  });

  it('removes every namespace, link and process it made when a test fails midway', () => {
    const { cloud, host, net, subnets } = setUp();
    const a = running(cloud, subnets[AZS[0] ?? ''] ?? '');
    // A daemon in the instance's namespace, detached from this process (as the unit-runner starts one).
    const daemon = spawn('nsenter', [`--net=/run/netns/${net.ns(a)}`, 'sleep', '600'], {
      detached: true,
      stdio: 'ignore',
    });
    daemon.unref();
    const made = net.listNamespaces();

    let failure: unknown;
    try {
      throw new Error('the test failed here');
    } catch (error) {
      failure = error;
    } finally {
      net.cleanup();
      host.cleanup();
    }

    expect(String(failure)).toContain('the test failed here');
    expect(made).toEqual(expect.arrayContaining([net.vpcNs, net.parkNs, `berth-${net.id}-${a}`]));
    expect(net.listNamespaces()).toEqual([]);
    expect(spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout).not.toContain(net.id);
    expect(
      spawnSync('ps', ['-p', String(daemon.pid), '-o', 'stat='], { encoding: 'utf8' }).stdout.trim(),
    ).toMatch(/^(Z.*)?$/);
    // Nothing in the root namespace: the bridge and every veth lived in this world's namespaces.
    expect(spawnSync('ip', ['-o', 'link'], { encoding: 'utf8' }).stdout).not.toMatch(
      /\b(br0|eni\d+|[pv]\d+)@/,
    );
  });
});
