/**
 * The set's stable IP on the host, for real: each test's host is a network namespace whose ENI is
 * a veth interface with the ENI's MAC, present and unconfigured, as EC2 hands an attached ENI to an
 * instance. prepare-node and quiesce-node run inside it (nsenter --net), on loop devices.
 */
import { readFileSync, existsSync, readlinkSync, mkdirSync, writeFileSync } from 'node:fs';
import { HOST_FILES } from '../../lambdas/shared/contract';
import { LoopDevices, type LoopVolume } from '../helpers/loop-devices';
import { NetNamespace } from '../helpers/net-namespace';

const MAC = '0a:1b:2c:3d:4e:5f';
const NODE_IP = '10.0.1.10';
const SYSTEMD = '/etc/systemd/system';

describe("the set's network interface on the host", () => {
  let loop: LoopDevices;
  let ns: NetNamespace;

  beforeEach(() => {
    loop = LoopDevices.create('node-network');
    ns = NetNamespace.create();
    ns.addInterface('ens6', MAC);
  });

  afterEach(() => {
    ns.cleanup();
    loop.cleanup();
  });

  const params = (volume: LoopVolume, extra: Record<string, string> = {}) => ({
    VolumeIds: volume.volumeId,
    DeviceNames: '',
    MountPoint: '/var/lib/etcd',
    Filesystem: 'btrfs',
    NodeId: 'etcd-1',
    NetworkInterfaceId: 'eni-0123456789abcdef0',
    NodeIp: NODE_IP,
    NodeMac: MAC,
    NodeSubnetCidr: '10.0.1.0/24',
    EnvFile: '/etc/etcd/berth.env',
    ServiceUnit: 'etcd.service',
    ...extra,
  });
  const prepare = (volume: LoopVolume, extra: Record<string, string> = {}, env: Record<string, string> = {}) =>
    loop.runScript('prepare-node.sh', params(volume, extra), { BERTH_IFACE_WAIT_SECONDS: '1', ...env }, ns.wrap);
  const quiesce = () =>
    loop.runScript(
      'quiesce-node.sh',
      { MountPoint: '/var/lib/etcd', ServiceUnit: 'etcd.service', TimeoutSeconds: '5' },
      {},
      ns.wrap,
    );
  const rules = () => ns.ip('-4', 'rule', 'show').split('\n').filter((l) => l.includes(NODE_IP));
  const table = () => ns.ip('-4', 'route', 'show', 'table', String(HOST_FILES.routeTable)).trim().split('\n').filter(Boolean);
  const rpFilter = () => ns.exec('cat', ['/proc/sys/net/ipv4/conf/ens6/rp_filter']).stdout.trim();
  /** What the set's IP looks like on the host: address, link, rule, route table, main table. */
  const networkState = () => ({
    addresses: ns.addresses('ens6'),
    up: /<[^>]*\bUP\b/.test(ns.ip('-o', 'link', 'show', 'dev', 'ens6')),
    rules: rules().map((l) => l.replace(/\s+/g, ' ').trim()),
    table: table().map((l) => l.replace(/\s+/g, ' ').trim()),
    mainHasSubnet: ns.ip('-4', 'route', 'show', 'table', 'main').includes('10.0.1.0/24'),
  });
  const configured = {
    addresses: [`${NODE_IP}/24`],
    up: true,
    rules: [`${HOST_FILES.routeTable}: from ${NODE_IP} lookup ${HOST_FILES.routeTable}`],
    table: [
      'default via 10.0.1.1 dev ens6',
      `10.0.1.0/24 dev ens6 scope link src ${NODE_IP}`,
    ],
    mainHasSubnet: false,
  };

  it('finds the ENI by its MAC and brings the set’s IP up with its own route table and rule', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = prepare(volume);

    // Assess
    expect(run.result).toMatchObject({
      ok: true,
      network: 'configured',
      interface: 'ens6',
      networkUnit: 'written',
      dropIns: 'written',
      unit: 'started',
    });
    expect(networkState()).toEqual(configured);
    expect(rpFilter()).toBe('2');
    expect(readFileSync(loop.hostPath('/etc/etcd/berth.env'), 'utf8')).toContain(`NODE_IP=${NODE_IP}\n`);
    // The service waits for the network unit and the mount; the boot unit is enabled.
    expect(readFileSync(loop.hostPath(`${SYSTEMD}/etcd.service.d/${HOST_FILES.setDropIn}`), 'utf8')).toBe(
      `[Unit]\nRequiresMountsFor=/var/lib/etcd\nWants=${HOST_FILES.networkUnit}\nAfter=${HOST_FILES.networkUnit}\n`,
    );
    expect(readlinkSync(loop.hostPath(`${SYSTEMD}/multi-user.target.wants/${HOST_FILES.networkUnit}`))).toBe(
      `${SYSTEMD}/${HOST_FILES.networkUnit}`,
    );
    expect(readFileSync(loop.hostPath(`${SYSTEMD}/${HOST_FILES.networkUnit}`), 'utf8')).toContain(
      `ExecStart=/usr/bin/env bash ${HOST_FILES.networkScript} up\n`,
    );
  });

  it('changes nothing on a second run and adds no second rule', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });
    expect(prepare(volume).result).toMatchObject({ ok: true });

    // Act
    const again = prepare(volume);

    // Assess
    expect(again.result).toMatchObject({
      ok: true,
      mount: 'already-mounted',
      network: 'configured',
      networkUnit: 'unchanged',
      dropIns: 'unchanged',
      envFile: 'unchanged',
    });
    expect(networkState()).toEqual(configured);
  });

  it('brings the IP back after a reboot through the boot unit’s own command', () => {
    // Prepare: configured, then everything a reboot loses (address, rule, routes, link state)
    const volume = loop.createVolume({ sizeMiB: 256 });
    expect(prepare(volume).result).toMatchObject({ ok: true });
    ns.ip('addr', 'flush', 'dev', 'ens6');
    ns.ip('rule', 'del', 'from', NODE_IP, 'lookup', String(HOST_FILES.routeTable));
    ns.ip('route', 'flush', 'table', String(HOST_FILES.routeTable));
    ns.ip('link', 'set', 'ens6', 'down');
    expect(networkState()).toMatchObject({ addresses: [], rules: [], table: [] });

    // Act: what systemd runs at boot, read from the unit prepare-node wrote
    const unit = readFileSync(loop.hostPath(`${SYSTEMD}/${HOST_FILES.networkUnit}`), 'utf8');
    const execStart = /^ExecStart=(.*)$/m.exec(unit)?.[1]?.split(' ') ?? [];
    expect(execStart.slice(0, 3)).toEqual(['/usr/bin/env', 'bash', HOST_FILES.networkScript]);
    const boot = ns.exec('bash', [loop.hostPath(HOST_FILES.networkScript), ...execStart.slice(3)]);

    // Assess
    expect(boot.status).toBe(0);
    expect(networkState()).toEqual(configured);
  });

  it('fails, naming the MAC, when no interface has the ENI’s MAC although it is attached', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = prepare(volume, { NodeMac: '0a:00:00:00:00:99' });

    // Assess
    expect(run.status).toBe(1);
    expect(run.result).toMatchObject({ ok: false, code: 'failed' });
    expect(String(run.result?.error)).toMatch(/^no interface has MAC 0a:00:00:00:00:99 \(the set's ENI eni-0123456789abcdef0 for 10\.0\.1\.10\) after 1s/);
    expect(loop.systemctlCalls()).not.toContain('start -- etcd.service');
  });

  it('verifies and leaves the interface alone on a host whose ec2-net-utils configures ENIs', () => {
    // Prepare: Amazon Linux's policy-routes@ unit is installed and has configured the ENI
    mkdirSync(loop.hostPath('/usr/lib/systemd/system'), { recursive: true });
    writeFileSync(loop.hostPath('/usr/lib/systemd/system/policy-routes@.service'), '[Unit]\n');
    ns.ip('addr', 'add', `${NODE_IP}/24`, 'dev', 'ens6');
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = prepare(volume);

    // Assess
    expect(run.result).toMatchObject({ ok: true, network: 'ec2-net-utils', interface: 'ens6', networkUnit: 'none' });
    expect(rules()).toEqual([]);
    expect(existsSync(loop.hostPath(HOST_FILES.networkScript))).toBe(false);
    expect(readFileSync(loop.hostPath(`${SYSTEMD}/etcd.service.d/${HOST_FILES.setDropIn}`), 'utf8')).toBe(
      '[Unit]\nRequiresMountsFor=/var/lib/etcd\n',
    );
  });

  it('fails on an ec2-net-utils host whose ENI never gets the set’s IP', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const run = prepare(volume, {}, { BERTH_NETWORK_MANAGER: 'ec2-net-utils' });

    // Assess
    expect(run.status).toBe(1);
    expect(String(run.result?.error)).toMatch(/ec2-net-utils manages ENIs on this host, but ens6 .* has no 10\.0\.1\.10 after 1s/);
  });

  it('quiesce takes the IP down and removes the set’s files, and keeps the guard', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });
    expect(prepare(volume).result).toMatchObject({ ok: true });

    // Act
    const run = quiesce();

    // Assess
    expect(run.result).toMatchObject({ ok: true, unmounted: true, network: 'down', unit: 'stopped' });
    expect(networkState()).toEqual({ addresses: [], up: false, rules: [], table: [], mainHasSubnet: false });
    for (const path of [
      HOST_FILES.networkScript,
      `${SYSTEMD}/${HOST_FILES.networkUnit}`,
      `${SYSTEMD}/multi-user.target.wants/${HOST_FILES.networkUnit}`,
      `${SYSTEMD}/etcd.service.d/${HOST_FILES.setDropIn}`,
    ])
      expect({ path, exists: existsSync(loop.hostPath(path)) }).toEqual({ path, exists: false });
    expect(existsSync(loop.hostPath(`${SYSTEMD}/etcd.service.d/${HOST_FILES.guardDropIn}`))).toBe(true);

    // A second quiesce finds nothing to do.
    expect(quiesce().result).toMatchObject({ ok: true, wasMounted: false, network: 'none' });
  });

  it('refuses a node IP outside its subnet and a node IP without the MAC, touching nothing', () => {
    // Prepare
    const volume = loop.createVolume({ sizeMiB: 256 });

    // Act
    const outside = prepare(volume, { NodeSubnetCidr: '10.0.2.0/24' });
    const noMac = prepare(volume, { NodeMac: '' });

    // Assess
    expect(outside.status).toBe(2);
    expect(outside.result?.error).toBe('NodeSubnetCidr 10.0.2.0/24 does not hold NodeIp 10.0.1.10');
    expect(noMac.status).toBe(2);
    expect(noMac.result?.error).toBe("NodeMac is required with NodeIp: the host finds the set's interface by its MAC");
    expect(ns.addresses('ens6')).toEqual([]);
  });
});
