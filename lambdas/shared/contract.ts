/**
 * Values the Lambdas, the SSM documents (infra/document-content.ts) and the host scripts
 * (agent-scripts/*.sh) must agree on, written once: the device names berth attaches volumes at and
 * the NodeID alphabet. The documents' `allowedPattern`s are built from these fragments, and the
 * scripts' validators receive them at synth (`renderContract`), so SSM, the Lambdas and the host
 * accept and refuse the same values.
 */

/**
 * EBS device names on Linux (EC2 User Guide, "Device names on Linux instances", HVM column; the
 * rule kubernetes commit 89d075f "Fix AWS device allocator to only use valid device names"
 * follows): `/dev/sd[f-p]` is the range recommended for EBS volumes, and the two-letter names EC2
 * accepts are `/dev/xvd[b-c][a-z]`. berth asks for the recommended names first, then the
 * two-letter ones: 11 + 52 = 63 names, more than any Nitro instance's shared limit of 28.
 */
const SINGLE = { prefix: 'sd', letters: ['f', 'p'] } as const;
const DOUBLE = { prefix: 'xvd', first: ['b', 'c'], second: ['a', 'z'] } as const;

function letters([from, to]: readonly [string, string]): string[] {
  const out: string[] = [];
  for (let c = from.charCodeAt(0); c <= to.charCodeAt(0); c++) out.push(String.fromCharCode(c));
  return out;
}

/** Every device name berth may attach a volume at, in the order it asks for them. */
export const DEVICE_NAMES: readonly string[] = [
  ...letters(SINGLE.letters).map((l) => `/dev/${SINGLE.prefix}${l}`),
  ...letters(DOUBLE.first).flatMap((a) => letters(DOUBLE.second).map((b) => `/dev/${DOUBLE.prefix}${a}${b}`)),
];

const range = ([from, to]: readonly [string, string]) => `[${from}-${to}]`;

/** One device name of DEVICE_NAMES, unanchored (a regex fragment for the documents' lists). */
export const DEVICE_NAME = `/dev/(${SINGLE.prefix}${range(SINGLE.letters)}|${DOUBLE.prefix}${range(DOUBLE.first)}${range(DOUBLE.second)})`;

/**
 * The characters of a NodeID (the value of the NodeID tag): EC2 tag values allow more, but the
 * NodeID reaches the host (environment file, SSM parameter), so it is kept to a shell-safe set.
 */
export const NODE_ID_CHARS = '[A-Za-z0-9._:@+=-]';
/** One NodeID, unanchored: 1 to 128 of NODE_ID_CHARS. */
export const NODE_ID = `${NODE_ID_CHARS}{1,128}`;

/** Anchored patterns for one value (the scripts' validators and the Lambdas use these). */
export const CONTRACT_PATTERNS = {
  deviceName: `^${DEVICE_NAME}$`,
  nodeId: `^${NODE_ID}$`,
} as const;

export const isDeviceName = (value: string): boolean => new RegExp(CONTRACT_PATTERNS.deviceName).test(value);
export const isNodeId = (value: string): boolean => new RegExp(CONTRACT_PATTERNS.nodeId).test(value);

/** The most volumes one set can hold: one per device name berth may attach at. */
export const MAX_SET_VOLUMES = DEVICE_NAMES.length;

const VOLUME_ID = 'vol-[0-9a-f]{8,17}';
/**
 * One path segment: starts with a letter, digit or _@+- (so neither "." nor ".." nor a hidden
 * name), then letters, digits and ._@+-. No spaces, quotes, `$`, `;`, backslashes or newlines.
 * Written without lookaheads so that JavaScript, SSM and bash's POSIX ERE read it the same way.
 */
const PATH_SEGMENT = '[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,127}';
/** The most segments an absolute path may have. */
const PATH_MAX_SEGMENTS = 32;
const PATH = `(/${PATH_SEGMENT}){1,${PATH_MAX_SEGMENTS}}`;
const OCTET = '(25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const more = (fragment: string) => `(,${fragment}){0,${MAX_SET_VOLUMES - 1}}`;
/**
 * Where berth may write the environment file: a file named `*.env`, at least one directory below
 * /etc, /run, /var/lib, /opt or /srv. No system facility reads `*.env` files in those directories
 * (sudoers.d and cron.d skip names with a dot; profile.d, ld.so.conf.d, sysctl.d and systemd read
 * other suffixes), so the file berth replaces as root on every node can never be /etc/passwd, a
 * unit or a sudoers entry, whoever is allowed to run the document.
 */
const ENV_FILE = `/(etc|run|var/lib|opt|srv)(/${PATH_SEGMENT}){1,${PATH_MAX_SEGMENTS - 3}}/[A-Za-z0-9_@+-][A-Za-z0-9._@+-]{0,123}\\.env`;
/**
 * A VPC subnet's IPv4 CIDR: "The allowed block size is between a /28 netmask and /16 netmask"
 * (Amazon VPC User Guide, "Subnet CIDR blocks").
 */
const SUBNET_CIDR = `${OCTET}(\\.${OCTET}){3}/(1[6-9]|2[0-8])`;

/**
 * Every pattern the SSM documents' parameters use (their `allowedPattern`), anchored at both ends.
 * The scripts receive the same strings in their contract block and validate with them, so SSM,
 * the Lambdas and the host accept and refuse the same values
 * (test/agent-scripts/parameters.test.ts runs each script against each pattern's samples).
 */
export const PARAMETER_PATTERNS = {
  volumeIds: `^${VOLUME_ID}${more(VOLUME_ID)}$`,
  volumeId: `^${VOLUME_ID}$`,
  deviceNames: `^(${DEVICE_NAME}${more(DEVICE_NAME)})?$`,
  deviceName: `^${DEVICE_NAME}$`,
  path: `^${PATH}$`,
  optionalPath: `^(${PATH})?$`,
  filesystem: '^(btrfs|ext4|xfs)$',
  /** A NodeID tag value, or empty (scratch volume). */
  nodeId: `^(${NODE_ID})?$`,
  optionalEni: '^(eni-[0-9a-f]{8,17})?$',
  optionalIpv4: `^(${OCTET}(\\.${OCTET}){3})?$`,
  /** An ENI's MAC address as EC2 writes it (DescribeNetworkInterfaces MacAddress), or empty. */
  optionalMac: '^([0-9a-f]{2}(:[0-9a-f]{2}){5})?$',
  /** The CIDR of the ENI's subnet, or empty. */
  optionalSubnetCidr: `^(${SUBNET_CIDR})?$`,
  /** The environment file (see ENV_FILE), or empty for none. */
  optionalEnvFile: `^(${ENV_FILE})?$`,
  /** A systemd unit name starting with a letter or digit (never an option such as -H), or empty. */
  optionalUnit: '^([A-Za-z0-9][A-Za-z0-9@._:-]{0,239}\\.(service|target|mount))?$',
  growMode: '^(add-device|expand)$',
  /** 1 to 3600 seconds (quiesce's wait for a busy mount; the settings allow the same range). */
  seconds: '^([1-9][0-9]{0,2}|[1-2][0-9]{3}|3[0-5][0-9]{2}|3600)$',
  instanceId: '^i-[0-9a-f]{8,17}$',
  sizeGiB: '^(0|[1-9][0-9]{0,4})$',
  roleArn: '^(arn:aws(-[a-z]+)*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]{1,512})?$',
} as const;

export type PatternName = keyof typeof PARAMETER_PATTERNS;

/**
 * What berth writes on a node besides the mount (prepare-node writes, quiesce-node removes the
 * set's part; the example's user data writes the guard before the service is installed):
 * - the guard drop-in of the service unit: the service never starts unless its mount point is a
 *   mount point (an Assert fails the start loudly; a Condition would skip it silently). It stays
 *   when the set leaves, so that a node that once held a set never starts its service on the root
 *   disk, even after a reboot with a volume missing;
 * - the set's drop-in: the service requires the mount (systemd orders it after the mount unit and
 *   stops it when the mount goes) and wants the node's network unit;
 * - the node's network unit and the script it runs (`up` / `down`), which bring the set's ENI up
 *   with source-based policy routing at every boot, in their own route table.
 */
export const HOST_FILES = {
  guardDropIn: '10-berth-guard.conf',
  setDropIn: '50-berth-set.conf',
  networkUnit: 'berth-node-network.service',
  networkScript: '/etc/berth/node-network.sh',
  /** The route table (and `ip rule` priority) of the set's IP. */
  routeTable: 10100,
} as const;

/** The guard drop-in's content for a mount point, exactly as prepare-node writes it. */
export const guardDropIn = (mountPoint: string): string => `[Unit]\nAssertPathIsMountPoint=${mountPoint}\n`;

/** The block every agent script carries between these markers; synth writes it from the patterns above. */
export const CONTRACT_BEGIN = '# ---- berth contract: written from lambdas/shared/contract.ts at synth ----';
export const CONTRACT_END = '# ---- end of berth contract ----';

/** `optionalUnit` → `OPTIONAL_UNIT_PATTERN`: the bash name of a pattern. */
export const bashPatternName = (name: string): string =>
  `${name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase()}_PATTERN`;

/**
 * The document patterns the scripts validate single values with (the lists and paths are checked
 * item by item with these and the constants below: one match of the whole path pattern costs
 * bash's regex engine about 25 ms). The runbook's patterns (instanceId, sizeGiB, roleArn) never
 * reach a host.
 */
const SCRIPT_PATTERNS = [
  'volumeId',
  'optionalEni',
  'optionalIpv4',
  'optionalMac',
  'optionalSubnetCidr',
  'optionalEnvFile',
  'optionalUnit',
  'seconds',
  'filesystem',
  'growMode',
] as const;

/** The contract block as bash: every pattern single-quoted (none holds a quote; checked). */
export function contractBlock(): string {
  const patterns: [string, string][] = [
    ['DEVICE_NAME_PATTERN', CONTRACT_PATTERNS.deviceName],
    ['NODE_ID_PATTERN', CONTRACT_PATTERNS.nodeId],
    ...SCRIPT_PATTERNS.map((name): [string, string] => [bashPatternName(name), PARAMETER_PATTERNS[name]]),
    ['PATH_SEGMENT_PATTERN', `^${PATH_SEGMENT}$`],
  ];
  for (const [name, pattern] of patterns) {
    if (pattern.includes("'")) throw new Error(`contract pattern ${name} holds a quote: ${pattern}`);
  }
  const values = [
    ...patterns.map(([name, pattern]) => `${name}='${pattern}'`),
    `PATH_MAX_SEGMENTS=${PATH_MAX_SEGMENTS}`,
    `MAX_SET_VOLUMES=${MAX_SET_VOLUMES}`,
    `GUARD_DROP_IN='${HOST_FILES.guardDropIn}'`,
    `SET_DROP_IN='${HOST_FILES.setDropIn}'`,
    `NETWORK_UNIT='${HOST_FILES.networkUnit}'`,
    `NETWORK_SCRIPT='${HOST_FILES.networkScript}'`,
    `ROUTE_TABLE=${HOST_FILES.routeTable}`,
  ];
  return [
    CONTRACT_BEGIN,
    '# shellcheck disable=SC2034 # each script uses its own part of the contract',
    'readonly \\',
    ...values.map((v, i) => `  ${v}${i < values.length - 1 ? ' \\' : ''}`),
    CONTRACT_END,
  ].join('\n');
}

/**
 * A script with its contract block (re)written from CONTRACT_PATTERNS; a script without the block
 * is refused, so that no document ships a validator that does not know the contract.
 */
export function renderContract(script: string, name = 'script'): string {
  const begin = script.indexOf(CONTRACT_BEGIN);
  const end = script.indexOf(CONTRACT_END);
  if (begin < 0 || end < begin) {
    throw new Error(
      `${name} has no berth contract block: add the lines "${CONTRACT_BEGIN}" … "${CONTRACT_END}"`,
    );
  }
  return script.slice(0, begin) + contractBlock() + script.slice(end + CONTRACT_END.length);
}

/**
 * The tag Auto Scaling puts on every instance of a group (reserved `aws:` prefix: nobody else can
 * write it). The Lambdas list a group's instances by it and IAM scopes instance actions by it.
 */
export const ASG_NAME_TAG = 'aws:autoscaling:groupName';

/**
 * The environment variable through which the construct tells the functions that create disk
 * alarms the grow function's ARN (the alarms' Lambda action).
 */
export const GROW_FUNCTION_ARN_ENV = 'BERTH_GROW_FUNCTION_ARN';
