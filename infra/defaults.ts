/**
 * The side-effect-free half of the infra (as in cdk-monitoring-constructs): names, defaults, the
 * mapping of construct props onto the Lambdas' settings, and their validation. Nothing here builds
 * a resource, so all of it is testable without synthesizing a stack.
 */
import { Token } from 'aws-cdk-lib';
import {
  ConfigError,
  isKmsAlias,
  isKmsKeyArn,
  KMS_KEY_ARN_EXAMPLE,
  kmsAliasProblem,
  resolveSettings,
  type GroupSettingsInput,
  type Settings,
} from '../lambdas/shared/config';
import type { ParsedFilter } from '../lambdas/shared/filters';
import type { HandlerName } from './lambda-bundling';
import { safeName, settingsParameterName } from '../lambdas/shared/settings-parameter';
import { PARAMETER_PATTERNS } from './document-content';
import { HANDOVER_SECONDS, QUIESCE_SLACK_SECONDS } from '../lambdas/shared/deadlines';
import { groupAlarmNamePrefix } from './event-patterns';

/** The Auto Scaling tag every instance of a group carries; IAM scopes instance actions by it. */
export { ASG_NAME_TAG } from '../lambdas/shared/contract';

/** Lifecycle hook names (unique per group). */
export const DEFAULT_LAUNCH_HOOK_NAME = 'berth-launch';
export const DEFAULT_TERMINATE_HOOK_NAME = 'berth-terminate';

/** Minutes between two reconciler runs (one definition, read by the reconciler's alarm audit too). */
export { DEFAULT_RECONCILE_MINUTES } from '../lambdas/shared/alarm-names';

/** berth's metric names and dimension: lambdas/shared/metrics.ts (METRICS), shared with the handlers. */

/** Lambda timeout and memory per handler. Launch/terminate/grow wait for attachments and SSM. */
export const FUNCTION_DEFAULTS: Record<HandlerName, { timeoutSeconds: number; memoryMiB: number }> = {
  launch: { timeoutSeconds: 900, memoryMiB: 512 },
  terminate: { timeoutSeconds: 900, memoryMiB: 512 },
  grow: { timeoutSeconds: 900, memoryMiB: 512 },
  reconcile: { timeoutSeconds: 900, memoryMiB: 512 },
};

/**
 * What each function may do. Every capability maps onto narrow IAM statements (permissions.ts),
 * and each function gets only those some flow of it needs: `npm run bench -- iam` removes every
 * statement in turn and shows a flow that is then denied.
 * Terminate hands a freed set to a waiting spare and so attaches, tags and prepares like launch.
 * Volume creation goes to launch only in groups with scratch volumes. Only the reconciler lists
 * alarms (by prefix); the others name the alarm of their instance.
 */
export type Capability =
  | 'describe'
  | 'lifecycle'
  | 'attachSets'
  | 'attachOwnedVolumes'
  | 'createVolumes'
  | 'modifyVolumes'
  | 'tagGrowthState'
  | 'tagSetGrowthState'
  | 'deleteVolumes'
  | 'deleteScratchVolumes'
  | 'tagInstances'
  | 'instanceAttributes'
  | 'runCommands'
  | 'alarms'
  | 'listAlarms';

export function capabilitiesOf(handler: HandlerName, settings: Settings): Capability[] {
  const scratch = settings.growth?.scratch.enabled === true;
  const growth = settings.growth !== undefined;
  // Disk alarms exist only with growth.
  const common: Capability[] = ['describe', 'runCommands', ...(growth ? (['alarms'] as const) : [])];
  switch (handler) {
    case 'launch':
      return [
        ...common,
        'attachSets',
        'lifecycle',
        'tagInstances',
        // Scratch volumes are created at launch (and discarded if attaching them fails).
        ...(scratch
          ? (['createVolumes', 'attachOwnedVolumes', 'instanceAttributes', 'deleteScratchVolumes'] as const)
          : []),
      ];
    case 'terminate':
      return [...common, 'attachSets', 'lifecycle', 'tagInstances'];
    case 'grow':
      return [
        ...common,
        'attachOwnedVolumes',
        'createVolumes',
        'modifyVolumes',
        'tagGrowthState',
        'tagSetGrowthState',
        'deleteVolumes',
        'instanceAttributes',
      ];
    case 'reconcile':
      return [
        ...common,
        'attachSets',
        'tagInstances',
        // Growth reconciliation settles stale grown volumes (tags them, detaches and deletes them)
        // and reaps the scratch volumes of vanished instances; it creates nothing.
        ...(growth
          ? ([
              'listAlarms',
              'attachOwnedVolumes',
              'tagGrowthState',
              'deleteVolumes',
              'deleteScratchVolumes',
            ] as const)
          : []),
      ];
  }
}

/** A name fit for SSM documents, parameters and dashboards (lambdas/shared/settings-parameter.ts). */
export { safeName };

/**
 * Physical names derived from the group (documents are per group, so two groups can run different
 * script versions). `uniqueName` stands in for the group's name when that is a token.
 */
export function berthNames(groupName: string, alarmPrefix: string, uniqueName?: string) {
  const stem = safeName(uniqueName ?? groupName).slice(0, 80);
  const base = `berth-${stem}`;
  return {
    documents: {
      prepareNode: `${base}-prepare-node`,
      quiesceNode: `${base}-quiesce-node`,
      growFilesystem: `${base}-grow-filesystem`,
    },
    automation: `${base}-grow-now`,
    agentConfigParameter: `/berth/${stem}/amazon-cloudwatch-agent`,
    /** The settings JSON for operators' tools (`berth status`). */
    settingsParameter: settingsParameterName(uniqueName ?? groupName),
    dashboard: base.replace(/\./g, '_'),
    /** Every berth alarm of the group starts with this. */
    alarmNamePrefix: groupAlarmNamePrefix(alarmPrefix, groupName),
  };
}

/** The props of the group construct that map 1:1 onto the Lambdas' settings. */
export type SettingsProps = Omit<GroupSettingsInput, 'groupName' | 'documents'>;

/** Thrown for props that cannot work; the message names the prop. */
export class PropsError extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(`${field}: ${message}`);
    this.name = 'PropsError';
  }
}

/** A copy without the leaves that are unresolved tokens, so that validation skips them. */
export function withoutTokens<T>(value: T): T {
  if (Array.isArray(value)) return value.map((v: unknown) => withoutTokens(v)) as T;
  if (value !== null && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if ((typeof v === 'string' || typeof v === 'number') && Token.isUnresolved(v)) continue;
      out[k] = withoutTokens(v);
    }
    return out as T;
  }
  return value;
}

/** Stand-in group name used to validate settings whose group name is a token. */
const TOKEN_GROUP_NAME = 'unresolved-group-name';

/**
 * Builds the settings the Lambdas receive and validates them the way the Lambdas will at cold
 * start (resolveSettings), then checks what the SSM documents' patterns need beyond that.
 * Unresolved tokens are skipped. Throws ConfigError/PropsError with the field's name.
 */
export function groupSettings(
  groupName: string,
  props: SettingsProps,
  documents: GroupSettingsInput['documents'],
): { input: GroupSettingsInput; settings: Settings } {
  const input: GroupSettingsInput = { ...props, groupName, documents };
  const checked = withoutTokens({
    ...input,
    groupName: Token.isUnresolved(groupName) ? TOKEN_GROUP_NAME : groupName,
  });
  const settings = resolveSettings(checked);
  // The host scripts receive these through SSM parameters whose allowedPatterns are narrower than
  // the settings' own checks (no hidden directories, no trailing slash, unit names start with a
  // letter or digit): refuse at synth what SendCommand would refuse at 3 a.m.
  const docChecks: [field: string, value: string | undefined, pattern: keyof typeof PARAMETER_PATTERNS][] = [
    ['mountPoint', settings.mountPoint, 'path'],
    ['envFile', settings.envFile, 'optionalEnvFile'],
    ['serviceUnit', settings.serviceUnit, 'optionalUnit'],
  ];
  for (const [field, value, pattern] of docChecks) {
    if (value !== undefined && !new RegExp(PARAMETER_PATTERNS[pattern]).test(value)) {
      throw new PropsError(
        field,
        `${JSON.stringify(value)} does not match the SSM document pattern ${PARAMETER_PATTERNS[pattern]}`,
      );
    }
  }
  return { input, settings };
}

/** The JSON the functions receive in BERTH_SETTINGS: the validated settings (group name may be a token). */
export function settingsJson(settings: Settings, groupName: string): string {
  const { parsedFilters: _parsed, ...rest } = settings;
  return JSON.stringify({ ...rest, groupName });
}

/** One node set to create: a primary volume and an ENI that share a NodeID. */
export interface NodeSpecInput {
  readonly nodeId: string;
  readonly volumeSizeGiB: number;
  readonly privateIp?: string;
}

const IPV4 = /^(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)(\.(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)){3}$/;

/**
 * The group name berth's rules listen for must be the group's: with another name every lifecycle
 * action goes unanswered, times out and is abandoned, in a loop.
 */
export function checkGroupName(given: string | undefined, ofGroup: string): void {
  if (given === undefined || Token.isUnresolved(given) || Token.isUnresolved(ofGroup)) return;
  if (given !== ofGroup) {
    throw new PropsError(
      'autoScalingGroupName',
      `${JSON.stringify(given)} is not the name of autoScalingGroup (${JSON.stringify(ofGroup)}); remove autoScalingGroupName or make the two agree`,
    );
  }
}

/** Settings that build a harmless construct while synth reports the props' errors. */
export function placeholderSettings(documents: GroupSettingsInput['documents']): Settings {
  return resolveSettings({ groupName: 'invalid-props', filters: 'berth:invalid=props', documents });
}

/**
 * A role imported into the app (no AWS::IAM::Role resource of its own here, found by type, not
 * instanceof): CDK silently drops managed policies added to it, so the SSM agent would lack
 * AmazonSSMManagedInstanceCore and every launch would wait for an agent that never registers.
 */
export function importedRoleWarning(role: IRoleLike): string | undefined {
  const child = role.node.defaultChild as { cfnResourceType?: string } | undefined;
  if (child?.cfnResourceType === 'AWS::IAM::Role') return undefined;
  return `instanceRole: ${role.roleName} is imported, so berth cannot attach the managed policy AmazonSSMManagedInstanceCore to it (its inline grants are added); attach that policy to the role where it is defined, or pass a role created in this app`;
}

interface IRoleLike {
  readonly roleName: string;
  readonly node: { readonly defaultChild?: unknown };
}

/** Validates the node sets to create (skips tokens); a node bigger than growth's total limit names both. */
export function validateNodes(
  nodes: readonly NodeSpecInput[],
  nodeSets: boolean,
  maxTotalGiB?: number,
): void {
  if (nodes.length > 0 && !nodeSets) {
    throw new PropsError(
      'nodes',
      'a scratch group (nodeSets: false) has no node sets to create; remove nodes',
    );
  }
  const seen = new Set<string>();
  nodes.forEach((node, i) => {
    const field = `nodes[${i}]`;
    if (!Token.isUnresolved(node.nodeId)) {
      if (!new RegExp(PARAMETER_PATTERNS.nodeId).test(node.nodeId) || node.nodeId === '') {
        throw new PropsError(
          `${field}.nodeId`,
          `must be 1–128 letters, digits or ._:@+=- (got ${JSON.stringify(node.nodeId)})`,
        );
      }
      if (seen.has(node.nodeId)) {
        throw new PropsError(
          `${field}.nodeId`,
          `"${node.nodeId}" is used by another node; NodeIDs must be unique`,
        );
      }
      seen.add(node.nodeId);
    }
    if (
      !Token.isUnresolved(node.volumeSizeGiB) &&
      !(Number.isInteger(node.volumeSizeGiB) && node.volumeSizeGiB >= 1 && node.volumeSizeGiB <= 16384)
    ) {
      throw new PropsError(
        `${field}.volumeSizeGiB`,
        `must be an integer from 1 to 16384 (got ${JSON.stringify(node.volumeSizeGiB)}); EBS gp3 volumes are 1–16384 GiB`,
      );
    }
    if (
      maxTotalGiB !== undefined &&
      !Token.isUnresolved(node.volumeSizeGiB) &&
      node.volumeSizeGiB > maxTotalGiB
    ) {
      throw new PropsError(
        `${field}.volumeSizeGiB`,
        `${node.volumeSizeGiB} GiB is larger than growth.maxTotalGiB (${maxTotalGiB} GiB), so the node could never grow; raise growth.maxTotalGiB or make the volume smaller`,
      );
    }
    if (node.privateIp !== undefined && !Token.isUnresolved(node.privateIp) && !IPV4.test(node.privateIp)) {
      throw new PropsError(
        `${field}.privateIp`,
        `must be an IPv4 address (got ${JSON.stringify(node.privateIp)})`,
      );
    }
  });
}

/**
 * The customer managed keys berth's functions need, as key ARNs: `kmsKeys` (every key the sets'
 * volumes are under) and growth's own key. `attach` is every key (a set's volumes may be under any
 * of them); `create` the keys of the volumes berth creates: growth's key, else the account's
 * default EBS key, which, when customer managed, is one of `kmsKeys`. Validates `kmsKeys` (tokens
 * skipped): key ARNs only, since an IAM statement naming an alias matches the alias, not its key.
 */
export function kmsKeyArns(
  kmsKeys: readonly string[],
  growthKeyId: string | undefined,
  keyArnOf: (keyId: string) => string,
): { attach: string[]; create: string[] } {
  kmsKeys.forEach((key, i) => {
    if (Token.isUnresolved(key)) return;
    const field = `kmsKeys[${i}]`;
    if (typeof key === 'string' && isKmsAlias(key)) throw new PropsError(field, kmsAliasProblem(key));
    if (typeof key !== 'string' || !isKmsKeyArn(key)) {
      throw new PropsError(
        field,
        `${JSON.stringify(key)} is not a KMS key ARN; write e.g. ${KMS_KEY_ARN_EXAMPLE}`,
      );
    }
  });
  const growthKey =
    growthKeyId === undefined
      ? undefined
      : Token.isUnresolved(growthKeyId) || growthKeyId.startsWith('arn:')
        ? growthKeyId
        : keyArnOf(growthKeyId);
  const unique = (keys: readonly string[]) => [...new Set(keys)];
  return {
    attach: unique([...kmsKeys, ...(growthKey ? [growthKey] : [])]),
    create: growthKey ? [growthKey] : unique(kmsKeys),
  };
}

/**
 * How an asynchronous event reaches a function, and for how long it is worth delivering: Lambda's
 * own queue (EventInvokeConfig) and the EventBridge target's retry policy both drop an event older
 * than `maxEventAgeSeconds` (to the dead-letter queue). Lambda's defaults, 6 hours and 2 retries
 * (Lambda Developer Guide, "Configuring error handling for asynchronous invocation"), would keep a
 * launch event alive long after its lifecycle action timed out, and a throttled function would run
 * it against an instance already abandoned.
 */
export interface AsyncDelivery {
  /** Lambda's MaximumEventAgeInSeconds and the rule target's (both 60–21600 here). */
  readonly maxEventAgeSeconds: number;
  /** Lambda's retries of a failed run (0–2). */
  readonly retryAttempts: number;
  /** EventBridge's retries of a failed delivery (bounded by the age as well). */
  readonly targetRetryAttempts: number;
}

/** Lambda's bounds on MaximumEventAgeInSeconds (Lambda API Reference, PutFunctionEventInvokeConfig). */
const EVENT_AGE = { min: 60, max: 21_600 };
const clampAge = (seconds: number) => Math.min(EVENT_AGE.max, Math.max(EVENT_AGE.min, Math.ceil(seconds)));

/**
 * What each function's event is worth:
 * - launch / terminate: the hook's heartbeat timeout. After it Auto Scaling applies the default
 *   result (ABANDON / CONTINUE) and the action's token is dead; a run after that can only undo.
 *   A retry within it is worth it (every step is idempotent; the action is still open).
 * - grow: the alarm's evaluation window (period × evaluation periods). An older ALARM event
 *   describes a disk the next evaluation has measured again; a disk still full is re-armed by the
 *   reconciler (stuck alarms, every run), which grows from current numbers.
 * - reconcile: its schedule interval. The next scheduled run does the same work from fresh state,
 *   so a late or retried run would only overlap it: no retries.
 */
export function asyncDelivery(
  settings: Settings,
  reconcileMinutes: number,
): Record<HandlerName, AsyncDelivery> {
  const hook = clampAge(settings.timeouts.heartbeatSeconds);
  const alarm = settings.growth?.alarm;
  const window = clampAge((alarm?.periodSeconds ?? 60) * (alarm?.evaluationPeriods ?? 1));
  return {
    launch: { maxEventAgeSeconds: hook, retryAttempts: 2, targetRetryAttempts: 8 },
    terminate: { maxEventAgeSeconds: hook, retryAttempts: 2, targetRetryAttempts: 8 },
    grow: { maxEventAgeSeconds: window, retryAttempts: 2, targetRetryAttempts: 8 },
    reconcile: {
      maxEventAgeSeconds: clampAge(reconcileMinutes * 60),
      retryAttempts: 0,
      targetRetryAttempts: 8,
    },
  };
}

/** Reserved concurrency: one number for every function, or some functions' own. */
export type ReservedConcurrency = number | Partial<Record<HandlerName, number>>;

/**
 * Per function, the reserved concurrency asked for (validated; tokens skipped). 0 is refused: a
 * function with none reserved is throttled on every invocation, so every launch hook would time
 * out and abandon its instance. A reservation for grow in a group without growth names a function
 * that does not exist.
 */
export function reservedConcurrencyOf(
  value: ReservedConcurrency | undefined,
  growth: boolean,
): Partial<Record<HandlerName, number>> {
  if (value === undefined) return {};
  const handlers: HandlerName[] = [
    'launch',
    'terminate',
    ...(growth ? (['grow'] as const) : []),
    'reconcile',
  ];
  const given: [string, unknown][] =
    typeof value === 'number' ? handlers.map((h) => [h, value]) : Object.entries(value);
  const out: Partial<Record<HandlerName, number>> = {};
  for (const [handler, n] of given) {
    const field = typeof value === 'number' ? 'reservedConcurrency' : `reservedConcurrency.${handler}`;
    if (!(['launch', 'terminate', 'grow', 'reconcile'] as string[]).includes(handler)) {
      throw new PropsError(
        field,
        `${handler} is not a berth function; use launch, terminate, grow or reconcile`,
      );
    }
    if (handler === 'grow' && !growth) {
      throw new PropsError(
        field,
        'the group has no growth, so there is no grow function to reserve for; remove it or add growth',
      );
    }
    if (typeof n === 'number' && Token.isUnresolved(n)) continue;
    if (n === 0) {
      throw new PropsError(
        field,
        "must be at least 1 (got 0): a function with no reserved concurrency is throttled on every invocation, so its events would only ever reach the dead-letter queue (every launch abandoned); remove it to use the account's unreserved pool",
      );
    }
    // The upper bound is the account's: its concurrency limit less the 100 Lambda keeps unreserved.
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 1)) {
      throw new PropsError(
        field,
        `must be a whole number of concurrent executions, at least 1 (got ${JSON.stringify(n)})`,
      );
    }
    out[handler as HandlerName] = n;
  }
  return out;
}

/** Validates the reconciler's period. */
/**
 * timeouts.commandSeconds is every SSM document's `timeoutSeconds` and the wait for a host step: a
 * step longer than one invocation less the launch's handover could never be seen to its end (each
 * invocation would hand it over to the next), so launches would only ever abandon.
 */
export function validateCommandSeconds(timeouts: Settings['timeouts']): void {
  const max = FUNCTION_DEFAULTS.launch.timeoutSeconds - HANDOVER_SECONDS.launch;
  const got = timeouts.commandSeconds;
  if (Token.isUnresolved(got) || got <= max) return;
  throw new PropsError(
    'timeouts.commandSeconds',
    `must be at most ${max} s (got ${got} s): a host step must end within one ${FUNCTION_DEFAULTS.launch.timeoutSeconds} s function invocation less the ${HANDOVER_SECONDS.launch} s a launch keeps back to hand over before its deadline; lower it to ${max} or less`,
  );
}

/**
 * quiesce-node waits up to timeouts.quiesceSeconds for a busy mount, then stops the unit, syncs
 * and unmounts, all within its document's `timeoutSeconds` (timeouts.commandSeconds): a wait that
 * fills the document's time is stopped by SSM before the unmount, and every terminate detaches
 * nothing.
 */
export function validateQuiesceSeconds(timeouts: Settings['timeouts']): void {
  const { quiesceSeconds, commandSeconds } = timeouts;
  if (Token.isUnresolved(quiesceSeconds) || Token.isUnresolved(commandSeconds)) return;
  const max = commandSeconds - QUIESCE_SLACK_SECONDS;
  if (quiesceSeconds <= max) return;
  throw new PropsError(
    'timeouts.quiesceSeconds',
    `must be at most ${max} s, timeouts.commandSeconds (${commandSeconds} s) less ${QUIESCE_SLACK_SECONDS} s (got ${quiesceSeconds} s): quiesce-node must stop the unit, sync and unmount after its wait, before SSM stops the document at its timeoutSeconds; lower it or raise timeouts.commandSeconds`,
  );
}

export function validateReconcileMinutes(minutes: number): void {
  if (Token.isUnresolved(minutes)) return;
  if (!(Number.isInteger(minutes) && minutes >= 1 && minutes <= 1440)) {
    throw new PropsError(
      'reconcileEveryMinutes',
      `must be whole minutes from 1 to 1440 (got ${JSON.stringify(minutes)} minutes)`,
    );
  }
}

/**
 * The tags a node set's resources carry so that the group's filters select them: every `K=V`
 * filter as a tag, every `tag-key=K` as a tag with an empty value. Other EC2 filter names
 * (availability-zone, …) are not tags and are left to the user.
 */
export function filterTags(filters: readonly ParsedFilter[]): Record<string, string> {
  const tags: Record<string, string> = {};
  for (const f of filters) {
    if (f.name.startsWith('tag:')) tags[f.name.slice(4)] = f.values[0] ?? '';
    else if (f.name === 'tag-key') for (const k of f.values) tags[k] ??= '';
  }
  return tags;
}

export { ConfigError };
