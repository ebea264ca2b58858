/**
 * A reusable local-cloud fixture for berth's handler tests: a VPC with one subnet per AZ, an Auto
 * Scaling group with launch and terminate hooks, N node sets (volumes + ENI sharing a NodeID,
 * tagged with the group's filter tags), the SSM documents, clients and Deps for the core, and a
 * way to plug the cloud under the handlers' module-level clients.
 */
import { Logger } from '@aws-lambda-powertools/logger';
import { systemClock } from '../../lambdas/shared/clock';
import {
  resolveSettings,
  SETTINGS_ENV,
  type GroupSettingsInput,
  type Settings,
} from '../../lambdas/shared/config';
import type { Deps } from '../../lambdas/shared/deps';
import { clients as runtimeClients, setClock } from '../../lambdas/shared/runtime';
import { berthNames } from '../../infra/defaults';
import { LocalCloud, type BusEvent } from '../../local-cloud/src';
import { actingPrincipal } from '../../local-cloud/src/authorization';
import { asDeployed } from './real-account';
import type { SynthesizedGroup } from './synthesized';

export const LAUNCH_EVENT = 'EC2 Instance-launch Lifecycle Action';
export const TERMINATE_EVENT = 'EC2 Instance-terminate Lifecycle Action';

export interface SeededSet {
  nodeId: string;
  availabilityZone: string;
  volumeIds: string[];
  networkInterfaceId: string;
  privateIp: string;
}

export interface FixtureOptions {
  /** Node sets to seed, spread round-robin over the AZs. @default 3 */
  sets?: number;
  /** @default ['eu-west-1a'] */
  azs?: string[];
  /** Volumes per set (ordinal 0…n-1). @default 1 */
  volumesPerSet?: number;
  /** Settings beyond the group name; filters default to `Service=etcd`. */
  settings?: Partial<GroupSettingsInput>;
  /** Launch/terminate hook heartbeat timeout (s). @default 900 */
  heartbeatTimeout?: number;
  seed?: number;
  /** SDK retry delay (0: no real backoff timers). @default 0 */
  retryDelayMs?: number;
  instanceType?: string;
  /** The construct's `kmsKeys` (key ARNs of the sets' customer managed keys) in the synthesized policies. */
  kmsKeys?: string[];
}

/** A silent logger for the core (set POWERTOOLS_LOG_LEVEL=DEBUG to read it). */
export function testLogger(): Logger {
  return new Logger({ serviceName: 'berth-test' });
}

export class CloudFixture {
  readonly cloud: LocalCloud;
  readonly settings: Settings;
  readonly vpcId: string;
  readonly subnets: Record<string, string>;
  readonly azs: string[];
  readonly sets: SeededSet[] = [];
  readonly groupName: string;
  readonly clients: ReturnType<LocalCloud['clients']>;
  /** The group's synthesized policies and documents, loaded into the cloud. */
  readonly deployed: SynthesizedGroup;
  private readonly volumesPerSet: number;
  private seq = 0;

  constructor(options: FixtureOptions = {}) {
    this.cloud = new LocalCloud({ seed: options.seed ?? 1 });
    this.azs = options.azs ?? ['eu-west-1a'];
    this.groupName = options.settings?.groupName ?? 'etcd-nodes';
    this.settings = resolveSettings({
      filters: 'Service=etcd',
      // The documents the construct names for this group (the synthesized template's).
      documents: berthNames(this.groupName, options.settings?.alarmPrefix ?? 'berth-').documents,
      ...options.settings,
      groupName: this.groupName,
      timeouts: { heartbeatSeconds: options.heartbeatTimeout ?? 900, ...(options.settings?.timeouts ?? {}) },
    });
    const network = this.cloud.ec2.seedNetwork({ azs: this.azs });
    this.vpcId = network.vpcId;
    this.subnets = network.subnets;
    this.volumesPerSet = options.volumesPerSet ?? 1;
    // IAM and documents as `cdk synth` makes them for this group (test/helpers/real-account.ts).
    this.deployed = asDeployed(
      this.cloud,
      this.settings,
      options.kmsKeys ? { kmsKeys: options.kmsKeys } : {},
    );
    this.cloud.autoscaling.createGroup({
      name: this.groupName,
      subnetIds: this.azs.map((az) => this.subnet(az)),
      desired: 0,
      max: 2000,
      ...(options.instanceType ? { instanceType: options.instanceType } : {}),
      hooks: [
        {
          name: 'berth-launch',
          transition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          heartbeatTimeout: options.heartbeatTimeout ?? 900,
          defaultResult: 'ABANDON',
        },
        {
          name: 'berth-terminate',
          transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          heartbeatTimeout: options.heartbeatTimeout ?? 900,
          defaultResult: 'CONTINUE',
        },
      ],
    });
    for (let i = 0; i < (options.sets ?? 3); i++) {
      this.seedSet({ availabilityZone: this.azs[i % this.azs.length] as string });
    }
    this.clients = this.cloud.clients({ retryDelayMs: options.retryDelayMs ?? 0 });
  }

  subnet(az: string): string {
    const id = this.subnets[az];
    if (!id) throw new Error(`no subnet in ${az}`);
    return id;
  }

  /** Tags every set resource carries: the NodeID and the group's filter tags. */
  setTags(nodeId: string): Record<string, string> {
    return { [this.settings.nodeIdTagKey]: nodeId, Service: 'etcd' };
  }

  /** Seeds one complete set (or, with the options, a deliberately broken one). */
  seedSet(
    options: {
      nodeId?: string;
      availabilityZone?: string;
      volumes?: number;
      /** AZ of each volume (split-set cases). */
      volumeAzs?: string[];
      /** Ordinal tag of each volume; `null` leaves the tag off. */
      ordinals?: (number | null)[];
      enis?: number;
      eniAz?: string;
      tags?: Record<string, string>;
      /** KMS key of the set's volumes (encrypted under it). @default unencrypted */
      kmsKeyId?: string;
    } = {},
  ): SeededSet {
    this.seq++;
    const nodeId = options.nodeId ?? `node-${String(this.seq).padStart(4, '0')}`;
    const az = options.availabilityZone ?? this.azs[0] ?? 'eu-west-1a';
    const count = options.volumes ?? this.volumesPerSet;
    const tags = { ...this.setTags(nodeId), ...(options.tags ?? {}) };
    const volumeIds: string[] = [];
    for (let i = 0; i < count; i++) {
      const ordinal = options.ordinals ? options.ordinals[i] : i;
      volumeIds.push(
        this.cloud.ec2.seedVolume({
          availabilityZone: options.volumeAzs?.[i] ?? az,
          size: 10,
          ...(options.kmsKeyId ? { kmsKeyId: options.kmsKeyId } : {}),
          tags: {
            ...tags,
            ...(ordinal === null || ordinal === undefined
              ? {}
              : { [this.settings.ordinalTagKey]: String(ordinal) }),
          },
        }),
      );
    }
    let networkInterfaceId = '';
    let privateIp = '';
    for (let i = 0; i < (options.enis ?? 1); i++) {
      const id = this.cloud.ec2.seedNetworkInterface({
        subnetId: this.subnet(options.eniAz ?? az),
        tags,
        description: `berth ${nodeId}`,
      });
      if (!networkInterfaceId) {
        networkInterfaceId = id;
        privateIp = this.cloud.ec2.networkInterface(id)?.privateIp ?? '';
      }
    }
    const set = { nodeId, availabilityZone: az, volumeIds, networkInterfaceId, privateIp };
    this.sets.push(set);
    return set;
  }

  /** Deps for the core functions, on this cloud's clients and virtual clock. */
  deps(overrides: Partial<Deps> = {}): Deps {
    return {
      ...this.clients,
      logger: testLogger(),
      clock: this.cloud.clock,
      settings: this.settings,
      ...overrides,
    };
  }

  /** Scales the group out by n; returns the new instance ids. */
  launch(n: number): string[] {
    return this.cloud.autoscaling.launchInstances(this.groupName, n);
  }

  launchEvents(): BusEvent[] {
    return this.cloud.events.drain(LAUNCH_EVENT);
  }

  terminateEvents(): BusEvent[] {
    return this.cloud.events.drain(TERMINATE_EVENT);
  }

  /** The lifecycle event of one instance (taken from the bus). */
  takeEvent(detailType: string, instanceId: string): BusEvent {
    const events = this.cloud.events.drain(detailType);
    const mine = events.find((e) => e.detail.EC2InstanceId === instanceId);
    if (!mine) throw new Error(`no ${detailType} for ${instanceId} (have ${events.length})`);
    return mine;
  }

  /**
   * Plugs the cloud under the handlers' module-level clients, sets BERTH_SETTINGS and the virtual
   * clock; returns a function that restores the environment and the system clock. Every call of
   * those clients is judged against the synthesized policy of the function that makes it
   * (handlers are invoked through test/helpers/handlers.ts, which names their role).
   */
  plugHandlers(): () => void {
    const previous = process.env[SETTINGS_ENV];
    this.cloud.plugAll(runtimeClients, { retryDelayMs: 0, principal: actingPrincipal });
    setClock(this.cloud.clock);
    const { parsedFilters: _parsed, ...input } = this.settings;
    process.env[SETTINGS_ENV] = JSON.stringify(input);
    return () => {
      if (previous === undefined) delete process.env[SETTINGS_ENV];
      else process.env[SETTINGS_ENV] = previous;
      setClock(systemClock);
    };
  }

  /** Volume ids attached (in any state) to an instance, excluding its root volume. */
  attachedVolumes(instanceId: string): string[] {
    return this.cloud.ec2
      .volumes()
      .filter(
        (v) => v.attachments.some((a) => a.instanceId === instanceId) && v.tags[this.settings.nodeIdTagKey],
      )
      .map((v) => v.volumeId)
      .sort();
  }

  /** Who holds each set: NodeID → instance id of its primary volume (or undefined). */
  holders(): Map<string, string | undefined> {
    const out = new Map<string, string | undefined>();
    for (const set of this.sets) {
      const v = this.cloud.ec2.volume(set.volumeIds[0] ?? '');
      out.set(set.nodeId, v?.attachments[0]?.instanceId);
    }
    return out;
  }
}

/**
 * For a describe block: makes fixtures plugged under the handlers' clients, each restored after its
 * test (environment, clock). `const fixture = pluggedFixtures();` then `fx = fixture(options)`.
 */
export function pluggedFixtures(): (options?: FixtureOptions) => CloudFixture {
  let restore: (() => void) | undefined;
  afterEach(() => {
    restore?.();
    restore = undefined;
  });
  return (options = {}) => {
    const fx = new CloudFixture(options);
    restore = fx.plugHandlers();
    return fx;
  };
}
