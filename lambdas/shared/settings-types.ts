/**
 * The shapes of a group's settings: what the construct's props and the Lambdas' environment carry
 * (GroupSettingsInput), what they resolve to (Settings), and the defaults berth applies. The rules
 * that validate them are in settings-rules.ts and growth-settings.ts; config.ts resolves them.
 */
import type { ParsedFilter } from './filters';

/** The environment variable that carries a group's settings (JSON) to every handler. */
export const SETTINGS_ENV = 'BERTH_SETTINGS';

export type Filesystem = 'btrfs' | 'ext4' | 'xfs';

/**
 * A size tier: while the filesystem has at most `upToDevices` volumes (the seed's rule,
 * amazon-ebs-autoscale `calc_new_size`), or spans at most `upToTotalGiB`, add `volumeGiB`.
 * Every tier of a list uses the same key; past the last tier its size applies.
 */
export interface SizeTier {
  /** This tier applies while the filesystem spans at most this many GiB. */
  upToTotalGiB?: number;
  /** This tier applies while the filesystem has at most this many volumes. */
  upToDevices?: number;
  /** Size of the volume added (or of the increment) in this tier. */
  volumeGiB: number;
}

export interface AlarmSettings {
  /** Seconds per datapoint: 10 or 30 (high-resolution metrics) or a multiple of 60. */
  periodSeconds: number;
  /** How many periods the disk alarm looks at. */
  evaluationPeriods: number;
  /** How many of those periods must breach the threshold (at most evaluationPeriods). */
  datapointsToAlarm: number;
}

/** Scratch volumes: a volume for instances that hold no set. */
export interface ScratchSettings {
  /** Give every instance that holds no set a scratch volume (required for a scratch group). */
  enabled: boolean;
  /** Give spares (instances waiting for a set) a scratch volume too. */
  forSpares: boolean;
  /** Size of a scratch volume. */
  sizeGiB: number;
}

export interface GrowthSettings {
  /** `add-device`: a new volume joins btrfs. `expand`: ModifyVolume, then grow the filesystem. */
  strategy: 'add-device' | 'expand';
  /** `tiers`: the seed's size steps; `factor`: new volume = factor × current total, clamped. */
  sizing: 'tiers' | 'factor';
  /** Size steps for `sizing: 'tiers'` (every tier uses the same key), ascending. */
  tiers: SizeTier[];
  /** For `sizing: 'factor'`: the new volume is this factor × the current total, clamped. */
  factor: number;
  /** Smallest volume (or increment) berth creates. */
  minVolumeGiB: number;
  /** Largest volume (or increment) berth creates; EBS allows 16384. */
  maxVolumeGiB: number;
  /** Most volumes a node may hold (its set's volumes included). */
  maxVolumes: number;
  /** Most GiB a node's filesystem may span. */
  maxTotalGiB: number;
  /**
   * disk_used_percent threshold with 1–3 devices; the seed's `calc_threshold` raises it to 80 from
   * 4 devices and to maxThresholdPercent from 7 (80 is kept within [initial, max]).
   */
  initialThresholdPercent: number;
  /** The highest disk_used_percent threshold the alarm is raised to as volumes are added. */
  maxThresholdPercent: number;
  /** Seconds after a grow during which the same instance is not grown again. */
  cooldownSeconds: number;
  /** EBS type of the volumes berth creates. */
  volumeType: 'gp3' | 'gp2' | 'io1' | 'io2' | 'st1' | 'sc1';
  /** Provisioned IOPS (gp3 3000–80000, io1 100–64000, io2 100–256000; required for io1/io2). */
  iops?: number;
  /** Throughput in MiB/s (gp3 only, 125–2000). */
  throughput?: number;
  /** Encrypt the volumes berth creates. */
  encrypted: boolean;
  /**
   * KMS key of those volumes: key id or key ARN (an alias is refused: IAM statements must name the
   * key). Its permissions are added for the functions that create and attach those volumes.
   * @default - the account's default EBS key (name it in `kmsKeys` if it is a customer managed key)
   */
  kmsKeyId?: string;
  /** The disk_used_percent alarm that triggers a grow. */
  alarm: AlarmSettings;
  /**
   * Predictive growth (off when absent): a second alarm per node fires when the projected time to
   * full, (100 - used %) / RATE(used %), is below this many seconds (lambdas/shared/alarms.ts).
   */
  timeToFullSeconds?: number;
  /** Scratch volume for instances that hold no set (scratch groups, and spares if `forSpares`). */
  scratch: ScratchSettings;
}

export interface Timeouts {
  /** Wait for an attachment to reach `attached`/`detached`. */
  attachSeconds: number;
  /** Wait for the SSM agent to come online. */
  agentOnlineSeconds: number;
  /** Wait for a Run Command to finish. */
  commandSeconds: number;
  /** Heartbeat timeout of the lifecycle hooks (30–7200). */
  heartbeatSeconds: number;
  /** Bounded wait for a busy mount in quiesce-node. */
  quiesceSeconds: number;
  /** How long a launch waits for a set held by a terminating instance. */
  waitForTerminatingSeconds: number;
}

export interface GroupSettings {
  /** The Auto Scaling group's name. */
  groupName: string;
  /**
   * The tags that make a volume or ENI this group's, in smilodon syntax, e.g.
   * `Env=prod,Service=etcd,tag-key=Project`; at least one `Key=Value` (EC2 tag rules apply).
   * @default - none: required with node sets
   */
  filters: string;
  /** `false`: a scratch-only group (no NodeID sets, every instance gets a scratch volume). */
  nodeSets: boolean;
  /**
   * `true`: a set is its volumes only; no ENI follows the node (Kafka, Cassandra: the data follows
   * the node, the IP does not). Launch, terminate, reconcile and the IAM then leave ENIs alone.
   */
  volumeOnly: boolean;
  /** Tag whose value names a set's node (shared by its volumes and ENI). */
  nodeIdTagKey: string;
  /** Tag that holds a volume's ordinal in its set (0 = primary). */
  ordinalTagKey: string;
  /** Ownership tag berth writes on what it creates (value: the group name); IAM is scoped by it. */
  ownerTagKey: string;
  /** Device index the set's ENI is attached at (0 is the primary interface). */
  eniDeviceIndex: number;
  /**
   * Where the set's filesystem is mounted on the host (not on a system directory).
   * @default '/data' ('/scratch' in a scratch group)
   */
  mountPoint: string;
  /** Filesystem of the set's volumes; add-device growth needs btrfs. */
  filesystem: Filesystem;
  /**
   * File the host writes the node's identity to, for the service to read (`EnvironmentFile=`):
   * `NODE_ID`, `NODE_IP` (the set's stable IP, empty in a volume-only group), `VOLUME_IDS`
   * (primary first), `NETWORK_INTERFACE_ID`, `MOUNT_POINT`. A `*.env` file at least one directory
   * below /etc, /run, /var/lib, /opt or /srv, outside the mount point (berth replaces it as root).
   */
  envFile: string;
  /**
   * systemd unit started after the set is mounted and stopped before it is detached. berth gives
   * it two drop-ins: `10-berth-guard.conf` (`AssertPathIsMountPoint=`: never started on the bare
   * mount point, kept for good) and `50-berth-set.conf` (`RequiresMountsFor=`, after the node's
   * network unit; removed when the set leaves).
   */
  serviceUnit?: string;
  /** What a launch does when no set is free: continue as a spare, or abandon the instance. */
  whenNoSetFree: 'spare' | 'abandon';
  /**
   * How many holders that are attached but not prepared (`berth:prepared` missing or naming
   * another set) one reconcile run re-prepares; 0 only reports them. @default 3
   */
  maxPreparesPerRun: number;
  /** How long berth waits for each step. */
  timeouts: Timeouts;
  /** Names of the SSM Command documents (set by the construct). */
  documents: { prepareNode: string; quiesceNode: string; growFilesystem: string };
  /** Namespace of berth's own metrics (gauges, refusals). */
  metricsNamespace: string;
  /** Alarm names start with `${alarmPrefix}${groupName}-`. */
  alarmPrefix: string;
  /** Filesystem growth; absent (or null) to turn it off. */
  growth?: GrowthSettings;
}

/** Settings plus what is derived from them once. */
export interface Settings extends GroupSettings {
  parsedFilters: ParsedFilter[];
}

/**
 * The seed's defaults (awslabs/amazon-ebs-autoscale `install.sh` and `bin/ebs-autoscale`):
 * min/max_ebs_volume_size 150/1500, max_ebs_volume_count 16, max_logical_volume_size 8000,
 * initial_utilization_threshold 50 (80 from 4 devices, 90 from 7), new volume 150/300/1000/1500 GiB
 * for 1–3/4–6/7–10/11+ devices, gp3 (3000 IOPS, 125 MiB/s: the gp3 baseline), encrypted.
 * Two departures, from `npm run bench -- growth-race` (lambdas/grow/headroom.ts): the alarm fires
 * on one datapoint (1 of 1, not 2 of 2: a minute sooner; disk usage does not flap like CPU), and
 * the threshold from 7 devices is 85, not 90. With the seed's 2 of 2 and 90, a writer at the
 * volumes' provisioned throughput (125 MiB/s each) fills the disk before the new volume lands at
 * 4 devices (600 GiB at 80 %), at 7 (1500 GiB at 90 %) and at 8 (2500 GiB at 90 %).
 */
export const DEFAULT_GROWTH: GrowthSettings = {
  strategy: 'add-device',
  sizing: 'tiers',
  tiers: [
    { upToDevices: 3, volumeGiB: 150 },
    { upToDevices: 6, volumeGiB: 300 },
    { upToDevices: 10, volumeGiB: 1000 },
    { upToDevices: 127, volumeGiB: 1500 },
  ],
  factor: 1,
  minVolumeGiB: 150,
  maxVolumeGiB: 1500,
  maxVolumes: 16,
  maxTotalGiB: 8000,
  initialThresholdPercent: 50,
  maxThresholdPercent: 85,
  cooldownSeconds: 300,
  volumeType: 'gp3',
  encrypted: true,
  alarm: { periodSeconds: 60, evaluationPeriods: 1, datapointsToAlarm: 1 },
  scratch: { enabled: false, forSpares: false, sizeGiB: 20 },
};

export const DEFAULT_TIMEOUTS: Timeouts = {
  attachSeconds: 300,
  agentOnlineSeconds: 600,
  commandSeconds: 600,
  heartbeatSeconds: 900,
  quiesceSeconds: 120,
  waitForTerminatingSeconds: 1800,
};

/** Settings a user (or the construct) gives; everything but the group name has a default. */
export type GroupSettingsInput = Partial<Omit<GroupSettings, 'timeouts' | 'documents' | 'growth'>> & {
  groupName: string;
  /** How long berth waits for each step; each field is optional. */
  timeouts?: Partial<Timeouts>;
  /** Names of the SSM Command documents (set by the construct). */
  documents?: Partial<GroupSettings['documents']>;
  /**
   * Filesystem growth; absent (or null) to turn it off, `{}` for the defaults below.
   * @default - none: no growth
   */
  growth?:
    | (Partial<Omit<GrowthSettings, 'alarm' | 'scratch'>> & {
        alarm?: Partial<AlarmSettings>;
        scratch?: Partial<GrowthSettings['scratch']>;
      })
    | null;
};
