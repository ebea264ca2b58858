/**
 * The etcd member's configuration on a host root, from berth's env file: the ONE place the etcd
 * demo takes it from. Same shape and file path as `etcdHostFiles` of infra/example-etcd.ts (owned
 * elsewhere); when that lands in main, this module re-exports it instead.
 */

export interface EtcdHostFilesInput {
  /** berth's mount point; the data directory lives below it. */
  mountPoint: string;
  /** berth's env file (NODE_ID, NODE_IP, …), read by the unit. */
  envFile: string;
  /** The cluster: every NodeID with its set's fixed IP. */
  members: { nodeId: string; ip: string }[];
}

export interface HostFile {
  path: string;
  mode: number;
  content: string;
}

/** etcd's data directory below the mount point. */
export function etcdDataDir(mountPoint: string): string {
  return `${mountPoint.replace(/\/+$/, '')}/data`;
}

export function etcdHostFiles(input: EtcdHostFilesInput): HostFile[] {
  const cluster = input.members.map((m) => `${m.nodeId}=http://${m.ip}:2380`).join(',');
  const content = [
    '# etcd as a berth node: member name = NodeID, URLs on the set IP, data on the set volumes.',
    '[Service]',
    // Debian's unit sets ETCD_NAME and ETCD_DATA_DIR; etcd 3.4 refuses to start when a non-empty
    // ETCD_* variable and its flag are both set, even empty ("conflicting environment variable").
    'UnsetEnvironment=ETCD_NAME ETCD_DATA_DIR',
    `EnvironmentFile=${input.envFile}`,
    'ExecStart=',
    [
      'ExecStart=/usr/bin/etcd --name ${NODE_ID}',
      `--data-dir ${etcdDataDir(input.mountPoint)}`,
      '--listen-peer-urls http://${NODE_IP}:2380',
      '--initial-advertise-peer-urls http://${NODE_IP}:2380',
      '--listen-client-urls http://${NODE_IP}:2379,http://127.0.0.1:2379',
      '--advertise-client-urls http://${NODE_IP}:2379',
      `--initial-cluster ${cluster}`,
      '--initial-cluster-token berth-etcd',
      '--initial-cluster-state new',
    ].join(' '),
    '',
  ].join('\n');
  return [{ path: '/etc/systemd/system/etcd.service.d/20-berth-etcd.conf', mode: 0o644, content }];
}
