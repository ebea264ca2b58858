/**
 * A group's settings, resolved and validated in one place for the construct (at synth) and the
 * Lambdas (at cold start, from BERTH_SETTINGS). Shapes and defaults: settings-types.ts; rules:
 * settings-rules.ts and growth-settings.ts.
 */
import { FilterSyntaxError, parseFilters, type ParsedFilter } from './filters';
import { resolveGrowth } from './growth-settings';
import {
  check,
  checkFilterTags,
  ConfigError,
  DOC_NAME,
  GROUP_NAME,
  int,
  oneOf,
  path,
  systemDirectoryOf,
  envFileProblem,
  TAG_KEY,
  UNIT,
} from './settings-rules';
import {
  DEFAULT_TIMEOUTS,
  SETTINGS_ENV,
  type GroupSettings,
  type GroupSettingsInput,
  type Settings,
  type Timeouts,
} from './settings-types';

export * from './settings-types';
export {
  checkScopingFilters,
  ConfigError,
  isKmsAlias,
  isKmsKeyArn,
  isKmsKeyReference,
  KMS_KEY_ARN_EXAMPLE,
  kmsAliasProblem,
  isPlainAbsolutePath,
  systemDirectoryOf,
  tagProblem,
  VOLUME_PERFORMANCE,
} from './settings-rules';

/** Resolves defaults and validates; the first bad value fails with its field name and the fix. */
export function resolveSettings(input: GroupSettingsInput): Settings {
  check(typeof input === 'object' && input !== null, 'settings', 'must be a JSON object');
  check(
    typeof input.groupName === 'string' && GROUP_NAME.test(input.groupName),
    'groupName',
    `must be the Auto Scaling group's name (1–255 characters) (got ${JSON.stringify(input.groupName)})`,
  );
  const nodeSets = input.nodeSets ?? true;
  check(typeof nodeSets === 'boolean', 'nodeSets', 'must be true or false');
  const volumeOnly = input.volumeOnly ?? false;
  check(typeof volumeOnly === 'boolean', 'volumeOnly', 'must be true or false');
  const filters = input.filters ?? '';
  check(
    typeof filters === 'string',
    'filters',
    'must be a string such as "Env=dev,Service=etcd,tag-key=Project"',
  );
  let parsedFilters: ParsedFilter[];
  try {
    parsedFilters = parseFilters(filters);
  } catch (error) {
    if (error instanceof FilterSyntaxError) throw new ConfigError('filters', error.message);
    throw error;
  }
  checkFilterTags(parsedFilters);
  const tagKey = (value: unknown, field: string, fallback: string): string => {
    const v = value ?? fallback;
    check(
      typeof v === 'string' && TAG_KEY.test(v),
      field,
      `must be a tag key of 1–128 characters not starting with "aws:" (got ${JSON.stringify(v)})`,
    );
    return v as string;
  };
  const nodeIdTagKey = tagKey(input.nodeIdTagKey, 'nodeIdTagKey', 'NodeID');
  const ordinalTagKey = tagKey(input.ordinalTagKey, 'ordinalTagKey', 'berth:ordinal');
  const ownerTagKey = tagKey(input.ownerTagKey, 'ownerTagKey', 'berth:group');
  const eniDeviceIndex = int(
    input.eniDeviceIndex ?? 1,
    'eniDeviceIndex',
    1,
    31,
    'index 0 is the primary interface, so use 1 or more',
  );
  const maxPreparesPerRun = int(
    input.maxPreparesPerRun ?? 3,
    'maxPreparesPerRun',
    0,
    50,
    'each re-prepare runs prepare-node on one holder within the reconcile invocation',
  );
  const mountPoint = path(input.mountPoint ?? (nodeSets ? '/data' : '/scratch'), 'mountPoint');
  const systemDirectory = systemDirectoryOf(mountPoint);
  check(
    systemDirectory === undefined,
    'mountPoint',
    systemDirectory === mountPoint || `${systemDirectory}/` === mountPoint
      ? `${JSON.stringify(mountPoint)} is a system directory; mount the data on a directory of its own such as /data or /var/lib/etcd`
      : `${JSON.stringify(mountPoint)} is inside the system directory ${systemDirectory}; mount the data on a directory of its own such as /data or /var/lib/etcd`,
  );
  const filesystem = oneOf(input.filesystem ?? 'btrfs', 'filesystem', ['btrfs', 'ext4', 'xfs'] as const);
  // /etc, not /run: the service reads the file at every start, also after a reboot (/run is tmpfs).
  const envFile = path(input.envFile ?? '/etc/berth/node.env', 'envFile');
  const envProblem = envFileProblem(envFile, mountPoint);
  check(envProblem === undefined, 'envFile', envProblem ?? '');
  const serviceUnit =
    input.serviceUnit === undefined || input.serviceUnit === '' ? undefined : input.serviceUnit;
  check(
    serviceUnit === undefined || (typeof serviceUnit === 'string' && UNIT.test(serviceUnit)),
    'serviceUnit',
    `must be a systemd unit name such as etcd.service (got ${JSON.stringify(serviceUnit)})`,
  );
  const whenNoSetFree = oneOf(input.whenNoSetFree ?? 'spare', 'whenNoSetFree', ['spare', 'abandon'] as const);

  const t = { ...DEFAULT_TIMEOUTS, ...(input.timeouts ?? {}) };
  const timeouts: Timeouts = {
    attachSeconds: int(
      t.attachSeconds,
      'timeouts.attachSeconds',
      10,
      3600,
      'attachments take seconds to minutes',
    ),
    agentOnlineSeconds: int(
      t.agentOnlineSeconds,
      'timeouts.agentOnlineSeconds',
      10,
      7200,
      'agents register within minutes',
    ),
    commandSeconds: int(
      t.commandSeconds,
      'timeouts.commandSeconds',
      30,
      7200,
      'SSM commands may run up to 2 hours',
    ),
    heartbeatSeconds: int(
      t.heartbeatSeconds,
      'timeouts.heartbeatSeconds',
      30,
      7200,
      'the lifecycle hook heartbeat range is 30–7200 s',
    ),
    quiesceSeconds: int(
      t.quiesceSeconds,
      'timeouts.quiesceSeconds',
      1,
      3600,
      'a bounded wait for a busy mount',
    ),
    waitForTerminatingSeconds: int(
      t.waitForTerminatingSeconds,
      'timeouts.waitForTerminatingSeconds',
      0,
      172800,
      'lifecycle actions may be extended to 48 h at most',
    ),
  };

  const d = {
    prepareNode: 'berth-prepare-node',
    quiesceNode: 'berth-quiesce-node',
    growFilesystem: 'berth-grow-filesystem',
    ...(input.documents ?? {}),
  };
  for (const [k, v] of Object.entries(d)) {
    check(
      typeof v === 'string' && DOC_NAME.test(v),
      `documents.${k}`,
      `must be an SSM document name (got ${JSON.stringify(v)})`,
    );
  }
  const metricsNamespace = input.metricsNamespace ?? 'Berth';
  check(
    typeof metricsNamespace === 'string' && /^[A-Za-z0-9./_#:-]{1,255}$/.test(metricsNamespace),
    'metricsNamespace',
    'must be a CloudWatch namespace such as Berth',
  );
  const alarmPrefix = input.alarmPrefix ?? 'berth-';
  check(
    typeof alarmPrefix === 'string' && /^[A-Za-z0-9._-]{1,64}$/.test(alarmPrefix),
    'alarmPrefix',
    'must be letters, digits, ".", "_" or "-" (at most 64)',
  );

  const growth =
    input.growth === undefined || input.growth === null
      ? undefined
      : resolveGrowth(input.growth, filesystem, nodeSets);
  check(
    nodeSets || growth?.scratch.enabled === true,
    'growth.scratch.enabled',
    'a group without node sets (nodeSets: false) is a scratch group: enable growth.scratch',
  );

  return {
    groupName: input.groupName,
    filters,
    parsedFilters,
    nodeSets,
    volumeOnly,
    nodeIdTagKey,
    ordinalTagKey,
    ownerTagKey,
    eniDeviceIndex,
    mountPoint,
    filesystem,
    envFile,
    ...(serviceUnit ? { serviceUnit } : {}),
    whenNoSetFree,
    maxPreparesPerRun,
    timeouts,
    documents: d as GroupSettings['documents'],
    metricsNamespace,
    alarmPrefix,
    ...(growth ? { growth } : {}),
  };
}

let cached: { raw: string; settings: Settings } | undefined;

/** Reads and validates the settings from the environment once per cold start. */
export function settingsFromEnv(env: NodeJS.ProcessEnv = process.env): Settings {
  const raw = env[SETTINGS_ENV];
  if (cached && cached.raw === raw) return cached.settings;
  check(
    typeof raw === 'string' && raw.length > 0,
    SETTINGS_ENV,
    'is not set; the construct sets it to the group settings JSON',
  );
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw as string);
  } catch (error) {
    throw new ConfigError(SETTINGS_ENV, `is not valid JSON (${(error as Error).message})`);
  }
  const settings = resolveSettings(parsed as GroupSettingsInput);
  cached = { raw: raw as string, settings };
  return settings;
}
