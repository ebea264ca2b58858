/**
 * The example's etcd member, written once: the files a host needs (`etcdHostFiles`) and the user
 * data that installs etcd behind berth's first-boot guard (`etcdUserData`). Pure: strings in,
 * strings out, no CDK import, so the example stack renders these into its user data and the tests
 * write the same files into their fake hosts.
 *
 * The member's identity comes from berth's environment file, which `prepare-node` writes once the
 * node's set is mounted: NODE_ID is the member name and NODE_IP (the set's ENI) its peer and client
 * address. The initial cluster is every NodeID with its fixed IP. `--initial-cluster-state new` is
 * right on every start: etcd reads the initial-cluster flags only while its data directory is
 * empty, so a replacement that mounts the set's volume rejoins as the same member.
 */
import { guardDropIn, HOST_FILES, isNodeId } from '../lambdas/shared/contract';

export interface HostFile {
  /** Absolute path on the host. */
  readonly path: string;
  /** Octal permission bits, e.g. '0644'. */
  readonly mode: string;
  readonly content: string;
}

export interface EtcdMember {
  /** The NodeID of the member's set: etcd's member name. */
  readonly nodeId: string;
  /** The fixed IPv4 address of the set's ENI (may be a CloudFormation token). */
  readonly ip: string;
}

export interface EtcdHostFilesInput {
  /** berth's mountPoint: the set's filesystem. */
  readonly mountPoint: string;
  /** berth's envFile: NODE_ID, NODE_IP, VOLUME_IDS, NETWORK_INTERFACE_ID, MOUNT_POINT. */
  readonly envFile: string;
  /** Every member of the cluster, in a stable order. */
  readonly members: readonly EtcdMember[];
  /** @default 'berth-etcd' */
  readonly clusterToken?: string;
}

/** Where the unit's drop-ins live: the package's etcd.service is overridden, never edited. */
export const ETCD_DROP_IN_DIR = '/etc/systemd/system/etcd.service.d';
/** The member configuration drop-in. */
export const ETCD_DROP_IN = `${ETCD_DROP_IN_DIR}/20-berth-etcd.conf`;
/** etcd's data directory, inside the set's filesystem. */
export const ETCD_DATA_SUBDIR = 'data';
export const ETCD_BINARY = '/usr/bin/etcd';
export const DEFAULT_CLUSTER_TOKEN = 'berth-etcd';

/**
 * The first-boot guard: the unit refuses to start unless the set's filesystem is mounted. The
 * same file `prepare-node` writes (name and content from the contract).
 */
export { guardDropIn };
export const GUARD_DROP_IN = `${ETCD_DROP_IN_DIR}/${HOST_FILES.guardDropIn}`;

/**
 * Variables the package's unit sets that the drop-in passes as flags instead. etcd exits when a
 * flag is also set by its ETCD_* variable ("conflicting environment variable … is shadowed"), and
 * Debian's unit sets ETCD_NAME=%H and ETCD_DATA_DIR=/var/lib/etcd/default.
 */
export const ETCD_FLAG_VARIABLES = [
  'ETCD_NAME',
  'ETCD_DATA_DIR',
  'ETCD_LISTEN_PEER_URLS',
  'ETCD_INITIAL_ADVERTISE_PEER_URLS',
  'ETCD_LISTEN_CLIENT_URLS',
  'ETCD_ADVERTISE_CLIENT_URLS',
  'ETCD_INITIAL_CLUSTER',
  'ETCD_INITIAL_CLUSTER_STATE',
  'ETCD_INITIAL_CLUSTER_TOKEN',
] as const;

/** An absolute path without spaces, quotes or shell metacharacters (it lands in unit files and shell). */
const SAFE_PATH = /^(\/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]*)+$/;
/** One address: no separators of the initial-cluster list (a CloudFormation token passes too). */
const SAFE_ADDRESS = /^[^\s,=/]+$/;
const SAFE_TOKEN = /^[A-Za-z0-9._-]{1,64}$/;

function check(input: EtcdHostFilesInput): void {
  for (const [name, value] of [
    ['mountPoint', input.mountPoint],
    ['envFile', input.envFile],
  ] as const) {
    if (!SAFE_PATH.test(value)) {
      throw new Error(`etcd ${name}: '${value}' must be an absolute path of letters, digits and ._@+-`);
    }
  }
  if (input.members.length === 0) throw new Error('etcd members: at least one member is needed');
  const seen = new Set<string>();
  for (const { nodeId, ip } of input.members) {
    if (!isNodeId(nodeId)) throw new Error(`etcd members: '${nodeId}' is not a NodeID`);
    if (seen.has(nodeId)) throw new Error(`etcd members: '${nodeId}' is listed twice`);
    seen.add(nodeId);
    if (!SAFE_ADDRESS.test(ip)) throw new Error(`etcd members: ${nodeId} has no usable IP ('${ip}')`);
  }
  const token = input.clusterToken ?? DEFAULT_CLUSTER_TOKEN;
  if (!SAFE_TOKEN.test(token)) {
    throw new Error(`etcd clusterToken: '${token}' must be 1 to 64 letters, digits and ._-`);
  }
}

/** The data directory of the member: a directory of its own on the set's filesystem. */
export const etcdDataDir = (mountPoint: string): string => `${mountPoint}/${ETCD_DATA_SUBDIR}`;

/**
 * The files an etcd host needs besides the package (or the upstream binary and `etcdBaseUnit`):
 * the drop-in that makes the member from berth's environment file.
 *
 * Ownership: the unit runs etcd as User=etcd, and `prepare-node` makes the filesystem as root, so
 * its root is root's. `ExecStartPre=+…install -d -o etcd -g etcd -m 0700` (the `+` runs that line
 * with full privileges) makes the data directory etcd's, 0700 as etcd wants it, on every start.
 * A directory of its own rather than the filesystem root: ext4's lost+found and the mount point's
 * mode stay as mkfs left them, and a volume of another set never passes for a member's data.
 * It runs only after the guard's assertion, so never on the bare mount point.
 *
 * Restart=on-failure (Debian's unit restarts only on signals): after a reboot etcd may start
 * before the set's IP is configured on the host and exit on the bind; it tries again every 5 s.
 */
export function etcdHostFiles(input: EtcdHostFilesInput): HostFile[] {
  check(input);
  const peer = (ip: string) => `http://${ip}:2380`;
  const initialCluster = input.members.map((m) => `${m.nodeId}=${peer(m.ip)}`).join(',');
  const dataDir = etcdDataDir(input.mountPoint);
  const execStart = [
    ETCD_BINARY,
    '--name ${NODE_ID}',
    `--data-dir ${dataDir}`,
    '--listen-peer-urls http://${NODE_IP}:2380',
    '--initial-advertise-peer-urls http://${NODE_IP}:2380',
    '--listen-client-urls http://${NODE_IP}:2379,http://127.0.0.1:2379',
    '--advertise-client-urls http://${NODE_IP}:2379',
    `--initial-cluster ${initialCluster}`,
    '--initial-cluster-state new',
    `--initial-cluster-token ${input.clusterToken ?? DEFAULT_CLUSTER_TOKEN}`,
  ].join(' ');
  const dropIn = [
    '# The etcd member of this node, from the variables berth writes once the set is mounted.',
    '[Service]',
    `EnvironmentFile=${input.envFile}`,
    `UnsetEnvironment=${ETCD_FLAG_VARIABLES.join(' ')}`,
    'ExecStartPre=',
    `ExecStartPre=+/usr/bin/install -d -o etcd -g etcd -m 0700 ${dataDir}`,
    'ExecStart=',
    `ExecStart=${execStart}`,
    'Restart=on-failure',
    'RestartSec=5s',
    '',
  ].join('\n');
  return [{ path: ETCD_DROP_IN, mode: '0644', content: dropIn }];
}

/**
 * etcd's upstream release for images without an etcd package (Amazon Linux 2023), pinned by
 * version and SHA-256 of the release tarball (the sums kubernetes-sigs/kubespray pins in
 * roles/kubespray_defaults/vars/main/checksums.yml, `etcd_binary_checksums`).
 */
export const ETCD_UPSTREAM = {
  version: '3.5.25',
  sha256: {
    aarch64: '419dce0b679df31cc45201ef2449b7a6a48e9d241af01741957c9ac86a35badc',
    x86_64: '168af82b59772e1811a9af7b358d42f5c6df44e0d9767afb006ecf12c4bbd607',
  },
} as const;

/** The unit for an upstream etcd: what Debian's package ships, without its ETCD_* defaults. */
export function etcdBaseUnit(): HostFile {
  return {
    path: '/etc/systemd/system/etcd.service',
    mode: '0644',
    content: [
      '[Unit]',
      'Description=etcd - highly-available key value store',
      'Documentation=https://etcd.io/docs',
      'After=network-online.target',
      'Wants=network-online.target',
      '',
      '[Service]',
      'Type=notify',
      'User=etcd',
      `ExecStart=${ETCD_BINARY}`,
      'Restart=on-abnormal',
      'LimitNOFILE=65536',
      '',
      '[Install]',
      'WantedBy=multi-user.target',
      '',
    ].join('\n'),
  };
}

/** How the image installs software. */
export type PackageManager = 'apt' | 'dnf';

export interface EtcdUserDataInput extends EtcdHostFilesInput {
  readonly packageManager: PackageManager;
  /** Packages to install with etcd (the filesystem's tools), in the image's own names. */
  readonly extraPackages?: readonly string[];
}

/** Lines that write one file, exactly, with its mode (a quoted here-document: no expansion). */
export function writeFileLines(file: HostFile): string[] {
  const marker = 'BERTH_FILE_END';
  if (file.content.split('\n').includes(marker)) throw new Error(`${file.path}: content contains ${marker}`);
  const body = file.content.endsWith('\n') ? file.content.slice(0, -1) : file.content;
  return [
    `install -d -m 0755 ${file.path.slice(0, file.path.lastIndexOf('/')) || '/'}`,
    `cat >${file.path} <<'${marker}'`,
    ...body.split('\n'),
    marker,
    `chmod ${file.mode} ${file.path}`,
  ];
}

const POLICY_RC_D = '/usr/sbin/policy-rc.d';

/**
 * The user data lines (after `#!/bin/bash`) that install etcd and configure the member, leaving its
 * start to berth's `prepare-node` (it starts the service unit once the set is mounted):
 *
 * 1. the guard drop-in and `systemctl daemon-reload` before anything can install etcd: the unit
 *    asserts the mount point, so etcd cannot run on the bare directory on the root disk;
 * 2. apt: Debian's and Ubuntu's packages start their service at install; a policy-rc.d that answers
 *    101 ("action forbidden", Debian Policy's invoke-rc.d interface, honoured by
 *    deb-systemd-invoke) keeps that start from even being tried, and is removed afterwards (an
 *    image's own policy-rc.d is put back). dnf: Amazon Linux 2023 has no etcd package, so the
 *    pinned upstream release is downloaded, checked against its SHA-256 and installed with a unit
 *    of its own, enabled;
 * 3. the member's drop-in and `systemctl daemon-reload`.
 * The unit stays enabled, so that a reboot brings the member back once the set's fstab entry has
 * mounted it; the guard refuses any start before that.
 */
export function etcdUserData(input: EtcdUserDataInput): string[] {
  const files = etcdHostFiles(input);
  const extra = input.extraPackages ?? [];
  const guard: HostFile = {
    path: GUARD_DROP_IN,
    mode: '0644',
    content: guardDropIn(input.mountPoint),
  };
  const lines = [
    'set -euo pipefail',
    '# berth first-boot guard: etcd never starts unless the set is mounted (before etcd is installed).',
    ...writeFileLines(guard),
    'systemctl daemon-reload',
  ];
  if (input.packageManager === 'apt') {
    lines.push(
      '# Keep the package from starting etcd at install (policy-rc.d 101: action forbidden).',
      `berth_allow_starts() {`,
      `  rm -f ${POLICY_RC_D}`,
      `  if [ -e ${POLICY_RC_D}.berth-saved ]; then mv -f ${POLICY_RC_D}.berth-saved ${POLICY_RC_D}; fi`,
      `}`,
      `if [ -e ${POLICY_RC_D} ]; then mv -f ${POLICY_RC_D} ${POLICY_RC_D}.berth-saved; fi`,
      `trap berth_allow_starts EXIT`,
      `printf '#!/bin/sh\\nexit 101\\n' >${POLICY_RC_D}`,
      `chmod 0755 ${POLICY_RC_D}`,
      'export DEBIAN_FRONTEND=noninteractive',
      'apt-get update -q',
      `apt-get install -y -q ${[...extra, 'etcd-server', 'etcd-client'].join(' ')}`,
      'berth_allow_starts',
      'trap - EXIT',
    );
  } else {
    const { version, sha256 } = ETCD_UPSTREAM;
    const name = `etcd-v${version}-linux-$berth_arch`;
    lines.push(
      `dnf install -y -q ${['tar', ...extra].join(' ')}`,
      `# etcd ${version} from its upstream release (Amazon Linux 2023 has no etcd package), checked by SHA-256.`,
      'case "$(uname -m)" in',
      `  aarch64) berth_arch=arm64 berth_sum=${sha256.aarch64} ;;`,
      `  x86_64) berth_arch=amd64 berth_sum=${sha256.x86_64} ;;`,
      '  *) echo "berth: no etcd release for $(uname -m)" >&2; exit 1 ;;',
      'esac',
      'berth_tmp=$(mktemp -d)',
      `curl -fsSL --retry 5 -o "$berth_tmp/etcd.tar.gz" "https://github.com/etcd-io/etcd/releases/download/v${version}/${name}.tar.gz"`,
      'echo "$berth_sum  $berth_tmp/etcd.tar.gz" | sha256sum -c -',
      'tar -xzf "$berth_tmp/etcd.tar.gz" -C "$berth_tmp" --strip-components=1',
      `install -m 0755 "$berth_tmp/etcd" ${ETCD_BINARY}`,
      'install -m 0755 "$berth_tmp/etcdctl" /usr/bin/etcdctl',
      'rm -rf "$berth_tmp"',
      'id -u etcd >/dev/null 2>&1 || useradd --system --no-create-home --home-dir /var/lib/etcd --shell /sbin/nologin etcd',
      ...writeFileLines(etcdBaseUnit()),
    );
  }
  lines.push("# The member: configuration from berth's env file; prepare-node starts it.");
  for (const file of files) lines.push(...writeFileLines(file));
  lines.push('systemctl daemon-reload');
  if (input.packageManager === 'dnf') lines.push('systemctl enable etcd.service');
  return lines;
}
