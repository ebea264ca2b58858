/**
 * The content of berth's SSM documents, side-effect free: parameter patterns, the three Command
 * documents that run the host scripts, and the Automation runbook for a manual grow.
 *
 * How a script reaches bash unchanged: `aws:runShellScript` joins the `runCommand` lines with "\n"
 * into `<orchestration dir>/_script.sh` (mode rwx), then runs `sh -c <that path>` (amazon-ssm-agent
 * agent/plugins/runscript/runshellscript.go: shellCommand "sh", shellArgs ["-c"];
 * pluginutil.CreateScriptFile). `sh -c /path` executes the file as a program, so the kernel honours
 * its first line. We therefore embed each script as ONE runCommand element whose text is the file
 * itself, starting with `#!/usr/bin/env bash`: bash runs the exact bytes of agent-scripts/<name>.sh
 * (plus the newline the agent appends), `$0` is the script's path, and no line of it is parsed by
 * sh. No wrapper (bash -c '…', heredoc) is needed, so no quoting of the script can go wrong.
 *
 * Parameters never enter the script text: every parameter has `interpolationType: ENV_VAR`, so the
 * agent (3.3.2746.0 or later) hands it over as the environment variable `SSM_<Name>`, which the
 * scripts quote. Every parameter also has an `allowedPattern` (SSM checks it before sending), and
 * the scripts check again. The scripts must not contain `{{`: SSM would still substitute there.
 */
import type {
  GrowFilesystemParameters,
  PrepareNodeParameters,
  QuiesceNodeParameters,
  ScriptKey,
} from '../lambdas/shared/documents';
import { PARAMETER_PATTERNS, renderContract, type PatternName } from '../lambdas/shared/contract';

/** Every pattern the documents use (one definition: lambdas/shared/contract.ts, also written into the scripts). */
export { PARAMETER_PATTERNS };

export type { PatternName };

interface ParameterSpec {
  pattern: PatternName;
  description: string;
  /** Optional parameters default to "" (the scripts read "" as "not given"). */
  optional?: boolean;
}

/** The parameters of each Command document, typed against the scripts' contract. */
export const COMMAND_PARAMETERS: {
  prepareNode: Record<keyof PrepareNodeParameters, ParameterSpec>;
  growFilesystem: Record<keyof GrowFilesystemParameters, ParameterSpec>;
  quiesceNode: Record<keyof QuiesceNodeParameters, ParameterSpec>;
} = {
  prepareNode: {
    VolumeIds: { pattern: 'volumeIds', description: 'Comma-separated volume ids, primary first.' },
    DeviceNames: {
      pattern: 'deviceNames',
      description: 'Comma-separated device names the volumes were attached as, same order.',
      optional: true,
    },
    MountPoint: { pattern: 'path', description: 'Absolute path to mount the filesystem on.' },
    Filesystem: { pattern: 'filesystem', description: 'btrfs, ext4 or xfs.' },
    NodeId: { pattern: 'nodeId', description: 'The NodeID; empty for a scratch volume.', optional: true },
    NetworkInterfaceId: {
      pattern: 'optionalEni',
      description: "The set's network interface; empty for a scratch volume.",
      optional: true,
    },
    NodeIp: {
      pattern: 'optionalIpv4',
      description: "The network interface's primary private IPv4; empty for a scratch volume.",
      optional: true,
    },
    NodeMac: {
      pattern: 'optionalMac',
      description:
        "The network interface's MAC address (finds its interface on the host); empty for a scratch volume.",
      optional: true,
    },
    NodeSubnetCidr: {
      pattern: 'optionalSubnetCidr',
      description:
        "The CIDR of the network interface's subnet (its route table); empty for a scratch volume.",
      optional: true,
    },
    EnvFile: {
      pattern: 'optionalEnvFile',
      description:
        'Environment file to write (NODE_ID, NODE_IP, VOLUME_IDS, NETWORK_INTERFACE_ID, MOUNT_POINT): a *.env file below /etc, /run, /var/lib, /opt or /srv; empty for none.',
      optional: true,
    },
    ServiceUnit: {
      pattern: 'optionalUnit',
      description: 'systemd unit to start once mounted; empty for none.',
      optional: true,
    },
  },
  growFilesystem: {
    Mode: {
      pattern: 'growMode',
      description: 'add-device (btrfs device add) or expand (resize after ModifyVolume).',
    },
    VolumeId: { pattern: 'volumeId', description: 'The volume to add or the volume that was enlarged.' },
    DeviceName: { pattern: 'deviceName', description: 'The device name the volume is attached as.' },
    MountPoint: { pattern: 'path', description: 'Mount point of the filesystem to grow.' },
  },
  quiesceNode: {
    MountPoint: { pattern: 'path', description: 'Mount point to sync and unmount.' },
    ServiceUnit: {
      pattern: 'optionalUnit',
      description: 'systemd unit to stop first; empty for none.',
      optional: true,
    },
    TimeoutSeconds: { pattern: 'seconds', description: 'Seconds to wait for a busy mount before giving up.' },
  },
};

const DESCRIPTIONS: Record<ScriptKey, string> = {
  prepareNode:
    "berth: make a node's volumes and IP usable (filesystem only on blank devices, mount, fstab, the set's network interface with policy routing, environment file, the unit's drop-ins, optional unit).",
  growFilesystem:
    'berth: grow the filesystem onto a new volume (btrfs device add) or after an in-place volume resize.',
  quiesceNode:
    "berth: stop the unit, sync and unmount, take the set's network interface down, before the set is detached.",
};

/**
 * The Command document (schema 2.2) that runs one script, embedded as-is except for its contract
 * block, which is written here from lambdas/shared/contract.ts (the patterns its validators use).
 */
export function commandDocumentContent(key: ScriptKey, script: string, timeoutSeconds: number) {
  const parameters: Record<string, Record<string, string>> = {};
  for (const [name, spec] of Object.entries(COMMAND_PARAMETERS[key] as Record<string, ParameterSpec>)) {
    parameters[name] = {
      type: 'String',
      description: spec.description,
      allowedPattern: PARAMETER_PATTERNS[spec.pattern],
      interpolationType: 'ENV_VAR',
      ...(spec.optional ? { default: '' } : {}),
    };
  }
  return {
    schemaVersion: '2.2',
    description: DESCRIPTIONS[key],
    parameters,
    mainSteps: [
      {
        action: 'aws:runShellScript',
        name: key,
        precondition: { StringEquals: ['platformType', 'Linux'] },
        inputs: { timeoutSeconds: String(timeoutSeconds), runCommand: [renderContract(script, key)] },
      },
    ],
  };
}

/**
 * The Automation runbook (schema 0.3) behind "grow now" in the SSM console: it invokes the grow
 * function with `{ instanceId, sizeGiB?, reason, requestId }`. SizeGiB "0" (the default) lets the growth
 * policy choose, so the runbook branches instead of sending a size of 0.
 */
export function automationDocumentContent(growFunctionArn: string, assumeRoleArn: string) {
  const payload = (withSize: boolean) =>
    JSON.stringify({
      instanceId: '{{InstanceId}}',
      ...(withSize ? { sizeGiB: '@@SIZE@@' } : {}),
      reason: 'manual grow (SSM Automation)',
      // The execution id makes a retried invocation idempotent (the grow function's ClientToken).
      requestId: '{{automation:EXECUTION_ID}}',
    }).replace('"@@SIZE@@"', '{{SizeGiB}}');
  const invoke = (name: string, withSize: boolean) => ({
    name,
    action: 'aws:invokeLambdaFunction',
    maxAttempts: 1,
    isEnd: true,
    inputs: { FunctionName: growFunctionArn, InvocationType: 'RequestResponse', Payload: payload(withSize) },
  });
  return {
    schemaVersion: '0.3',
    description: 'berth: grow the filesystem of one instance now, through the grow function and its policy.',
    assumeRole: '{{AutomationAssumeRole}}',
    parameters: {
      InstanceId: {
        type: 'String',
        description: 'The instance whose filesystem to grow.',
        allowedPattern: PARAMETER_PATTERNS.instanceId,
      },
      SizeGiB: {
        type: 'String',
        description: 'GiB to add; 0 lets the growth policy decide.',
        default: '0',
        allowedPattern: PARAMETER_PATTERNS.sizeGiB,
      },
      AutomationAssumeRole: {
        type: 'String',
        description: 'Role the runbook assumes; it may only invoke the grow function.',
        default: assumeRoleArn,
        allowedPattern: PARAMETER_PATTERNS.roleArn,
      },
    },
    mainSteps: [
      {
        name: 'chooseSize',
        action: 'aws:branch',
        inputs: {
          Choices: [{ NextStep: 'growByPolicy', Variable: '{{SizeGiB}}', StringEquals: '0' }],
          Default: 'growBySize',
        },
      },
      invoke('growByPolicy', false),
      invoke('growBySize', true),
    ],
  };
}
