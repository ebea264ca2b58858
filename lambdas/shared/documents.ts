/**
 * The contract between the Lambdas, the SSM Command documents (infra) and the host scripts
 * (agent-scripts/). Each document runs one script; its parameters reach the script as the
 * environment variables `SSM_<Name>` (SSM `interpolationType: ENV_VAR`), and the script ends with
 * one JSON line on stdout.
 */
export const SCRIPTS = {
  prepareNode: 'prepare-node.sh',
  growFilesystem: 'grow-filesystem.sh',
  quiesceNode: 'quiesce-node.sh',
} as const;

export type ScriptKey = keyof typeof SCRIPTS;

/** Parameters of `prepare-node`. Empty strings stand for "not given". */
export interface PrepareNodeParameters {
  /** Comma-separated volume ids, primary (ordinal 0) first. */
  VolumeIds: string;
  /** Comma-separated device names the volumes were attached as, same order (non-Nitro fallback). */
  DeviceNames: string;
  MountPoint: string;
  Filesystem: 'btrfs' | 'ext4' | 'xfs';
  /** The NodeID; empty for a scratch volume. */
  NodeId: string;
  /** The set's ENI id; empty for a scratch volume. */
  NetworkInterfaceId: string;
  /** The ENI's primary private IP; empty for a scratch volume. */
  NodeIp: string;
  /** The ENI's MAC address: how the host finds its interface; empty for a scratch volume. */
  NodeMac: string;
  /** The CIDR of the ENI's subnet (prefix length and VPC router of the route table); empty for a scratch volume. */
  NodeSubnetCidr: string;
  EnvFile: string;
  /** systemd unit to start once mounted; empty for none. */
  ServiceUnit: string;
}

/** Parameters of `grow-filesystem`. */
export interface GrowFilesystemParameters {
  Mode: 'add-device' | 'expand';
  VolumeId: string;
  DeviceName: string;
  MountPoint: string;
}

/** Parameters of `quiesce-node`. */
export interface QuiesceNodeParameters {
  MountPoint: string;
  ServiceUnit: string;
  /** Seconds to wait for a busy mount before giving up. */
  TimeoutSeconds: string;
}

export interface DocumentParameters {
  prepareNode: PrepareNodeParameters;
  growFilesystem: GrowFilesystemParameters;
  quiesceNode: QuiesceNodeParameters;
}

/** The last stdout line of every script. */
export interface ScriptResult {
  ok: boolean;
  action: string;
  [key: string]: unknown;
}

/** Reads the JSON summary a script printed last; `undefined` when there is none. */
export function parseScriptResult(stdout: string | undefined): ScriptResult | undefined {
  const lines = (stdout ?? '').split('\n').map((line) => line.trim());
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i];
    if (!line) continue;
    try {
      const value: unknown = JSON.parse(line);
      if (value && typeof value === 'object' && 'ok' in value && 'action' in value)
        return value as ScriptResult;
    } catch {
      // not JSON: keep looking upwards
    }
    return undefined;
  }
  return undefined;
}

/** SSM parameters as SendCommand wants them: every value a one-element list. */
export function toSsmParameters(parameters: object): Record<string, string[]> {
  return Object.fromEntries(Object.entries(parameters).map(([k, v]) => [k, [String(v)]]));
}

/**
 * Did a failed `grow-filesystem add-device` leave the device outside the filesystem? Only then may
 * the volume go. Reads the script's result carried as the failure's `cause` (a ScriptRun).
 */
export function notJoined(error: unknown): boolean {
  const run = (error as { cause?: { result?: Partial<ScriptResult> } } | undefined)?.cause;
  const result = run?.result;
  if (!result) return false;
  if (result.joined === false) return true;
  return result.code === 'invalid-parameter' || result.code === 'refused';
}
