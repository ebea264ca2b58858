/**
 * The example's etcd member definition (infra/example-etcd.ts): the files, their exact content and
 * refusals, and the order of the user data (guard, then install, then the member).
 */
import {
  ETCD_DROP_IN,
  ETCD_UPSTREAM,
  GUARD_DROP_IN,
  etcdHostFiles,
  etcdUserData,
  guardDropIn,
  writeFileLines,
  type EtcdHostFilesInput,
} from '../../infra/example-etcd';

const THREE = [
  { nodeId: 'etcd-0', ip: '10.0.3.10' },
  { nodeId: 'etcd-1', ip: '10.0.4.10' },
  { nodeId: 'etcd-2', ip: '10.0.5.10' },
];
const BASE: EtcdHostFilesInput = {
  mountPoint: '/var/lib/etcd',
  envFile: '/etc/etcd/berth.env',
  members: THREE,
};

const dropIn = (input: EtcdHostFilesInput) => {
  const files = etcdHostFiles(input);
  expect(files.map((f) => [f.path, f.mode])).toEqual([[ETCD_DROP_IN, '0644']]);
  return files[0]?.content ?? '';
};
const execStart = (content: string) =>
  content
    .split('\n')
    .filter((l) => l.startsWith('ExecStart='))
    .at(-1) ?? '';

describe('etcdHostFiles', () => {
  it('writes the member drop-in: env file, unset ETCD_* flags, data dir made etcd-owned, then etcd with every flag', () => {
    expect(dropIn(BASE)).toBe(
      [
        '# The etcd member of this node, from the variables berth writes once the set is mounted.',
        '[Service]',
        'EnvironmentFile=/etc/etcd/berth.env',
        'UnsetEnvironment=ETCD_NAME ETCD_DATA_DIR ETCD_LISTEN_PEER_URLS ETCD_INITIAL_ADVERTISE_PEER_URLS ETCD_LISTEN_CLIENT_URLS ETCD_ADVERTISE_CLIENT_URLS ETCD_INITIAL_CLUSTER ETCD_INITIAL_CLUSTER_STATE ETCD_INITIAL_CLUSTER_TOKEN',
        'ExecStartPre=',
        'ExecStartPre=+/usr/bin/install -d -o etcd -g etcd -m 0700 /var/lib/etcd/data',
        'ExecStart=',
        'ExecStart=/usr/bin/etcd --name ${NODE_ID} --data-dir /var/lib/etcd/data' +
          ' --listen-peer-urls http://${NODE_IP}:2380 --initial-advertise-peer-urls http://${NODE_IP}:2380' +
          ' --listen-client-urls http://${NODE_IP}:2379,http://127.0.0.1:2379 --advertise-client-urls http://${NODE_IP}:2379' +
          ' --initial-cluster etcd-0=http://10.0.3.10:2380,etcd-1=http://10.0.4.10:2380,etcd-2=http://10.0.5.10:2380' +
          ' --initial-cluster-state new --initial-cluster-token berth-etcd',
        'Restart=on-failure',
        'RestartSec=5s',
        '',
      ].join('\n'),
    );
  });

  it.each([
    [
      'one member',
      { members: [{ nodeId: 'solo', ip: '192.168.1.5' }] },
      '--initial-cluster solo=http://192.168.1.5:2380 ',
    ],
    ['another mount point', { mountPoint: '/data' }, '--data-dir /data/data '],
    ['a cluster token', { clusterToken: 'etcd-example' }, '--initial-cluster-token etcd-example'],
    [
      'an unresolved CloudFormation token as the IP',
      { members: [{ nodeId: 'etcd-0', ip: '${Token[TOKEN.123]}' }] },
      '--initial-cluster etcd-0=http://${Token[TOKEN.123]}:2380 ',
    ],
  ])('renders %s', (_what, change, expected) => {
    expect(execStart(dropIn({ ...BASE, ...change }))).toContain(expected);
  });

  it('keeps the env file and data dir where it is told', () => {
    const content = dropIn({ ...BASE, mountPoint: '/srv/etcd', envFile: '/etc/berth/node.env' });
    expect(content).toContain('\nEnvironmentFile=/etc/berth/node.env\n');
    expect(content).toContain('\nExecStartPre=+/usr/bin/install -d -o etcd -g etcd -m 0700 /srv/etcd/data\n');
  });

  it.each([
    [
      'a relative mount point',
      { mountPoint: 'var/lib/etcd' },
      "etcd mountPoint: 'var/lib/etcd' must be an absolute path of letters, digits and ._@+-",
    ],
    [
      'a path with a space',
      { envFile: '/etc/my env' },
      "etcd envFile: '/etc/my env' must be an absolute path of letters, digits and ._@+-",
    ],
    ['no member', { members: [] }, 'etcd members: at least one member is needed'],
    [
      'a NodeID with a space',
      { members: [{ nodeId: 'etcd 0', ip: '10.0.0.1' }] },
      "etcd members: 'etcd 0' is not a NodeID",
    ],
    ['a NodeID twice', { members: [THREE[0], THREE[0]] }, "etcd members: 'etcd-0' is listed twice"],
    [
      'an empty IP',
      { members: [{ nodeId: 'etcd-0', ip: '' }] },
      "etcd members: etcd-0 has no usable IP ('')",
    ],
    [
      'an IP list',
      { members: [{ nodeId: 'etcd-0', ip: '10.0.0.1,10.0.0.2' }] },
      "etcd members: etcd-0 has no usable IP ('10.0.0.1,10.0.0.2')",
    ],
    [
      'a token with a space',
      { clusterToken: 'a b' },
      "etcd clusterToken: 'a b' must be 1 to 64 letters, digits and ._-",
    ],
  ])('refuses %s', (_what, change, message) => {
    expect(() => etcdHostFiles({ ...BASE, ...change } as EtcdHostFilesInput)).toThrow(message);
  });
});

describe('the guard drop-in', () => {
  it('is exactly the unit assertion on the mount point', () => {
    expect(GUARD_DROP_IN).toBe('/etc/systemd/system/etcd.service.d/10-berth-guard.conf');
    expect(guardDropIn('/var/lib/etcd')).toBe('[Unit]\nAssertPathIsMountPoint=/var/lib/etcd\n');
  });
});

describe('etcdUserData', () => {
  const index = (lines: string[], pattern: RegExp) => lines.findIndex((l) => pattern.test(l));

  it('on apt: guard and daemon-reload, then policy-rc.d 101, then the install, then policy-rc.d removed, then the member', () => {
    const lines = etcdUserData({ ...BASE, packageManager: 'apt', extraPackages: ['btrfs-progs'] });
    const guard = index(lines, /^cat >\/etc\/systemd\/system\/etcd\.service\.d\/10-berth-guard\.conf /);
    const reload = index(lines, /^systemctl daemon-reload$/);
    const forbid = index(lines, /^printf '#!\/bin\/sh\\nexit 101\\n' >\/usr\/sbin\/policy-rc\.d$/);
    const install = index(lines, /^apt-get install -y -q btrfs-progs etcd-server etcd-client$/);
    const allow = lines.lastIndexOf('berth_allow_starts');
    const member = index(lines, /^cat >\/etc\/systemd\/system\/etcd\.service\.d\/20-berth-etcd\.conf /);
    expect(lines[0]).toBe('set -euo pipefail');
    expect([guard, reload, forbid, install, allow, member].every((i) => i > 0)).toBe(true);
    expect(guard < reload && reload < forbid && forbid < install && install < allow && allow < member).toBe(
      true,
    );
    expect(lines.lastIndexOf('systemctl daemon-reload')).toBeGreaterThan(member);
    expect(lines).not.toContain('systemctl start etcd.service');
    expect(lines.filter((l) => l.startsWith('dnf '))).toEqual([]);
  });

  it('on dnf: guard first, then the pinned upstream release checked by SHA-256, its own unit, enabled, never started', () => {
    const lines = etcdUserData({ ...BASE, packageManager: 'dnf', extraPackages: ['xfsprogs'] });
    const guard = index(lines, /10-berth-guard\.conf <</);
    const download = index(lines, /^curl -fsSL /);
    expect(guard).toBeGreaterThan(0);
    expect(download).toBeGreaterThan(guard);
    expect(lines[download]).toContain(
      `https://github.com/etcd-io/etcd/releases/download/v${ETCD_UPSTREAM.version}/etcd-v${ETCD_UPSTREAM.version}-linux-$berth_arch.tar.gz`,
    );
    expect(lines[download + 1]).toBe('echo "$berth_sum  $berth_tmp/etcd.tar.gz" | sha256sum -c -');
    expect(lines.join('\n')).toContain(
      `aarch64) berth_arch=arm64 berth_sum=${ETCD_UPSTREAM.sha256.aarch64} ;;`,
    );
    expect(lines).toContain('dnf install -y -q tar xfsprogs');
    expect(index(lines, /^cat >\/etc\/systemd\/system\/etcd\.service <</)).toBeGreaterThan(download);
    expect(lines.at(-1)).toBe('systemctl enable etcd.service');
    expect(lines.filter((l) => /apt-get|policy-rc\.d|systemctl start/.test(l))).toEqual([]);
  });

  it('writes each file byte for byte through a quoted here-document', () => {
    expect(writeFileLines({ path: '/etc/x/y.conf', mode: '0600', content: 'a ${B}\n$C\n' })).toEqual([
      'install -d -m 0755 /etc/x',
      "cat >/etc/x/y.conf <<'BERTH_FILE_END'",
      'a ${B}',
      '$C',
      'BERTH_FILE_END',
      'chmod 0600 /etc/x/y.conf',
    ]);
    expect(() => writeFileLines({ path: '/x', mode: '0644', content: 'BERTH_FILE_END\n' })).toThrow(
      '/x: content contains BERTH_FILE_END',
    );
  });
});
