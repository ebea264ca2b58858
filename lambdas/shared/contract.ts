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

/** The block every agent script carries between these markers; synth writes it from CONTRACT_PATTERNS. */
export const CONTRACT_BEGIN = '# ---- berth contract: written from lambdas/shared/contract.ts at synth ----';
export const CONTRACT_END = '# ---- end of berth contract ----';

/** The contract block as bash (single-quoted: the patterns hold no quote). */
export function contractBlock(): string {
  return [
    CONTRACT_BEGIN,
    `readonly DEVICE_NAME_PATTERN='${CONTRACT_PATTERNS.deviceName}'`,
    `readonly NODE_ID_PATTERN='${CONTRACT_PATTERNS.nodeId}'`,
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
