/**
 * The demo's world, shared with the end-to-end tests and the fault campaign: a local cloud with a
 * VPC over three AZs, NodeID sets (one volume and one ENI each, tagged as the group's filters
 * select them), an Auto Scaling group with berth's launch and terminate hooks, berth's SSM
 * documents, and the real Lambda handlers plugged onto the cloud. Events the cloud emits (lifecycle
 * actions, alarm changes) are delivered to the handlers by `pump()`.
 */
import { PutMetricDataCommand } from '@aws-sdk/client-cloudwatch';
import { AsyncLocalStorage } from 'node:async_hooks';
import { resolve } from 'node:path';
import { systemClock } from '../../lambdas/shared/clock';
import {
  resolveSettings,
  SETTINGS_ENV,
  type GroupSettingsInput,
  type Settings,
} from '../../lambdas/shared/config';
import { clients as runtimeClients, setClock } from '../../lambdas/shared/runtime';
import {
  grow as growHandler,
  launch as launchHandler,
  reconcile as reconcileHandler,
  terminate as terminateHandler,
} from '../helpers/handlers';
import { asDeployed } from '../helpers/real-account';
import { actingPrincipal } from '../../local-cloud/src/authorization';
import { berthNames } from '../../infra/defaults';
import { LocalCloud, type BusEvent, type Clients, type VirtualClock } from '../../local-cloud/src';
import type { HostExecutor } from '../../local-cloud/src/executors';

export const AGENT_SCRIPTS = resolve(__dirname, '../../agent-scripts');
export const AZS = ['eu-west-1a', 'eu-west-1b', 'eu-west-1c'] as const;
export const LAUNCH_HOOK = 'berth-launch';
export const TERMINATE_HOOK = 'berth-terminate';

export interface NodeSet {
  nodeId: string;
  az: string;
  subnetId: string;
  volumeIds: string[];
  eniId: string;
  ip: string;
}

export interface WorldOptions {
  seed?: number;
  /** How many NodeID sets (spread round-robin over the AZs). @default 3 */
  sets?: number;
  /** AZs of the sets and of the group's subnets (the VPC always spans all three). @default AZS */
  azs?: readonly string[];
  /** Size of each set's volume, GiB. @default 20 */
  volumeGiB?: number;
  /** Overrides of the group settings. */
  settings?: Partial<GroupSettingsInput>;
  executor?: HostExecutor;
  /** SDK retry delay of the handlers' clients (0 for fault runs). */
  retryDelayMs?: number;
  /** Called with every event delivered and its handler's outcome. */
  onDelivery?: (delivery: Delivery) => void;
}

export type HandlerName = 'launch' | 'terminate' | 'grow' | 'reconcile';

export interface Delivery {
  handler: HandlerName;
  event: BusEvent;
  ok: boolean;
  error?: unknown;
  result?: unknown;
}

/** The part of Lambda's context the handlers read for their deadline. */
export interface InvocationContext {
  getRemainingTimeInMillis: () => number;
}

type Invoke = (event: unknown, context?: InvocationContext) => Promise<unknown>;

export const handlers: Record<HandlerName, Invoke> = {
  launch: launchHandler as Invoke,
  terminate: terminateHandler as Invoke,
  grow: growHandler as Invoke,
  reconcile: reconcileHandler as Invoke,
};

/** Which handler an EventBridge rule sends an event to (undefined: no berth rule matches). */
export function handlerFor(event: BusEvent): HandlerName | undefined {
  switch (event['detail-type']) {
    case 'EC2 Instance-launch Lifecycle Action':
      return 'launch';
    case 'EC2 Instance-terminate Lifecycle Action':
      return 'terminate';
    case 'CloudWatch Alarm State Change': {
      const detail = event.detail as { state?: { value?: string } };
      return detail.state?.value === 'ALARM' ? 'grow' : undefined;
    }
    case 'Scheduled Event':
      return 'reconcile';
    default:
      return undefined;
  }
}

export function defaultSettings(groupName: string): GroupSettingsInput {
  return {
    groupName,
    filters: 'Service=berth-demo',
    mountPoint: '/data',
    filesystem: 'btrfs',
    envFile: '/etc/berth/node.env',
    whenNoSetFree: 'spare',
    timeouts: { heartbeatSeconds: 900, quiesceSeconds: 5 },
    growth: {
      strategy: 'add-device',
      cooldownSeconds: 60,
      alarm: { periodSeconds: 60, evaluationPeriods: 2, datapointsToAlarm: 2 },
    },
  };
}

/**
 * The SDK's retry strategy waits its backoff with `setTimeout(resolve, delay)` even when the delay
 * is 0, and Node runs a 0 ms timer after at least 1 ms: with every other task parked on the virtual
 * clock, each retried call (a fifth of the calls in a fault run) cost a millisecond of idle
 * process. Inside the strategy's retry step (and only there), a 0 ms timer runs as an immediate:
 * the same "no wait, next turn of the event loop", without the idle millisecond.
 */
const zeroDelayRetry = new AsyncLocalStorage<boolean>();
let zeroDelayTimers = false;

function immediateZeroDelayTimers(): void {
  if (zeroDelayTimers) return;
  zeroDelayTimers = true;
  const real = globalThis.setTimeout;
  const patched = (handler: unknown, ms?: number, ...args: unknown[]): unknown => {
    if (zeroDelayRetry.getStore() === true && !(Number(ms) > 0) && typeof handler === 'function') {
      return setImmediate(() => (handler as (...a: unknown[]) => void)(...args));
    }
    return real(handler as (...a: unknown[]) => void, ms, ...args);
  };
  // Same own properties (util.promisify.custom among them) as the real one.
  Object.defineProperties(patched, Object.getOwnPropertyDescriptors(real));
  globalThis.setTimeout = patched as unknown as typeof setTimeout;
}

/** The clock of the latest World: the SDK retry waits of the handlers' clients are tracked on it. */
let retryClock: VirtualClock | undefined;
const tracked = new WeakSet<object>();

/**
 * The SDK waits between its retries with real timers (0 ms with `retryDelayMs: 0`, but still a
 * timer). The virtual clock cannot see a pending real timer: it would take everyone as parked and
 * jump to the next virtual timer (a heartbeat minutes away) at every throttled call. Tracking the
 * retry wait on the clock keeps virtual time still while it runs, as in Lambda.
 */
function trackSdkRetries(clients: Record<string, { config: unknown }>, clock: VirtualClock): void {
  retryClock = clock;
  immediateZeroDelayTimers();
  for (const client of Object.values(clients)) {
    if (tracked.has(client)) continue;
    tracked.add(client);
    const config = client.config as { retryStrategy?: () => Promise<unknown> };
    const inner = config.retryStrategy;
    if (!inner) continue;
    const patched = new WeakSet<object>();
    config.retryStrategy = async () => {
      const strategy = (await inner()) as {
        refreshRetryTokenForRetry?: (token: unknown, info: unknown) => Promise<unknown>;
      };
      const refresh = strategy.refreshRetryTokenForRetry;
      if (refresh && !patched.has(strategy)) {
        patched.add(strategy);
        strategy.refreshRetryTokenForRetry = (token, info) => {
          const wait = zeroDelayRetry.run(true, () => refresh.call(strategy, token, info));
          return retryClock ? retryClock.track(wait) : wait;
        };
      }
      return strategy;
    };
  }
}

export class World {
  readonly cloud: LocalCloud;
  readonly groupName = 'berth-demo';
  readonly settings: GroupSettingsInput;
  readonly vpcId: string;
  readonly subnets: Record<string, string>;
  readonly sets: NodeSet[] = [];
  readonly deliveries: Delivery[] = [];
  /** Ids of every volume that came into existence (seeded or CreateVolume), in order. */
  readonly createdVolumeIds: string[] = [];
  private readonly previousSettings: string | undefined;
  private resolved: Settings | undefined;
  private agentClients: Clients | undefined;

  constructor(private readonly options: WorldOptions = {}) {
    this.cloud = new LocalCloud({ seed: options.seed ?? 1 });
    const net = this.cloud.ec2.seedNetwork({ azs: [...AZS] });
    this.vpcId = net.vpcId;
    this.subnets = net.subnets;
    const base = defaultSettings(this.groupName);
    this.settings = {
      // The documents the construct names for this group (the synthesized template's).
      documents: berthNames(this.groupName, options.settings?.alarmPrefix ?? 'berth-').documents,
      ...base,
      ...options.settings,
      timeouts: { ...base.timeouts, ...options.settings?.timeouts },
    } as GroupSettingsInput;
    if (options.executor) this.cloud.ssm.executor = options.executor;
    // IAM and SSM documents as `cdk synth` makes them for this group (test/helpers/real-account.ts).
    asDeployed(this.cloud, this.settingsResolved);
    this.previousSettings = process.env[SETTINGS_ENV];
    process.env[SETTINGS_ENV] = JSON.stringify(this.settings);
    this.cloud.ec2.hooks.volumeCreated = (volume) => {
      this.createdVolumeIds.push(volume.volumeId);
    };
    // Every handler call is judged against its function's synthesized role.
    this.cloud.plugAll(runtimeClients, {
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      principal: actingPrincipal,
    });
    trackSdkRetries(runtimeClients, this.cloud.clock);
    setClock(this.cloud.clock);
  }

  /** Seeds the NodeID sets (volume + ENI each), spread over the AZs. Call after hooks are plugged. */
  seedSets(count = this.options.sets ?? 3): NodeSet[] {
    const [filterKey, filterValue] =
      (this.settings.filters ?? 'Service=berth-demo').split(',')[0]?.split('=') ?? [];
    for (let i = 0; i < count; i++) {
      const azs = this.options.azs ?? AZS;
      const az = azs[i % azs.length] ?? 'eu-west-1a';
      const subnetId = this.subnets[az] ?? '';
      const nodeId = `node-${i}`;
      const tags: Record<string, string> = {
        NodeID: nodeId,
        ...(filterKey ? { [filterKey]: filterValue ?? '' } : {}),
      };
      const volumeId = this.cloud.ec2.seedVolume({
        availabilityZone: az,
        size: this.options.volumeGiB ?? 20,
        tags: { ...tags, 'berth:ordinal': '0' },
      });
      const eniId = this.cloud.ec2.seedNetworkInterface({ subnetId, tags, description: `berth ${nodeId}` });
      const ip = this.cloud.ec2.networkInterface(eniId)?.privateIp ?? '';
      this.sets.push({ nodeId, az, subnetId, volumeIds: [volumeId], eniId, ip });
    }
    return this.sets;
  }

  /** Volume ids of the seeded sets. */
  get seededVolumeIds(): string[] {
    return this.sets.flatMap((s) => s.volumeIds);
  }

  /** Creates the Auto Scaling group with berth's hooks (no instance yet). */
  createGroup(): void {
    this.cloud.autoscaling.createGroup({
      name: this.groupName,
      subnetIds: (this.options.azs ?? AZS).map((az) => this.subnets[az] ?? ''),
      desired: 0,
      hooks: [
        {
          name: LAUNCH_HOOK,
          transition: 'autoscaling:EC2_INSTANCE_LAUNCHING',
          heartbeatTimeoutSeconds: 900,
          defaultResult: 'ABANDON',
        },
        {
          name: TERMINATE_HOOK,
          transition: 'autoscaling:EC2_INSTANCE_TERMINATING',
          heartbeatTimeoutSeconds: 900,
          defaultResult: 'CONTINUE',
        },
      ],
    });
  }

  /**
   * Delivers one event to its handler, with Lambda's context when given (the handlers then know
   * their deadline); never throws (the outcome is recorded).
   */
  async deliver(event: BusEvent, context?: InvocationContext): Promise<Delivery | undefined> {
    const name = handlerFor(event);
    if (!name) return undefined;
    let delivery: Delivery;
    try {
      const result = await handlers[name](structuredClone(event), context);
      delivery = { handler: name, event, ok: true, result };
    } catch (error) {
      delivery = { handler: name, event, ok: false, error };
    }
    this.deliveries.push(delivery);
    this.options.onDelivery?.(delivery);
    return delivery;
  }

  /**
   * Delivers every queued event to its handler (concurrently, as Lambda runs them), then the events
   * those runs caused, until the bus is empty. Returns the deliveries made.
   */
  async pump(maxRounds = 50): Promise<Delivery[]> {
    const made: Delivery[] = [];
    for (let round = 0; round < maxRounds; round++) {
      const events = this.cloud.events.drain();
      if (events.length === 0) break;
      const results = await Promise.all(events.map((event) => this.deliver(event)));
      for (const r of results) if (r) made.push(r);
    }
    return made;
  }

  /** A scheduled reconcile run. */
  async reconcile(): Promise<Delivery | undefined> {
    return this.deliver(this.scheduledEvent());
  }

  /** Lets virtual time pass (attachments settle, alarms evaluate). */
  async wait(ms: number): Promise<void> {
    await this.cloud.clock.sleep(ms);
  }

  /** The set a node holds, by NodeID. */
  set(nodeId: string): NodeSet {
    const set = this.sets.find((s) => s.nodeId === nodeId);
    if (!set) throw new Error(`no set ${nodeId}`);
    return set;
  }

  /** The instance that holds a set's primary volume (attached), if any. */
  holder(nodeId: string): string | undefined {
    const primary = this.set(nodeId).volumeIds[0];
    const volume = primary ? this.cloud.ec2.volume(primary) : undefined;
    return volume?.attachments.find((a) => a.state === 'attached')?.instanceId;
  }

  /** Every volume (ids) carrying a NodeID, ordered by ordinal. */
  volumesOf(nodeId: string): string[] {
    return this.cloud.ec2
      .volumes()
      .filter((v) => v.tags.NodeID === nodeId && v.state !== 'deleted' && v.state !== 'deleting')
      .sort((a, b) => Number(a.tags['berth:ordinal'] ?? 0) - Number(b.tags['berth:ordinal'] ?? 0))
      .map((v) => v.volumeId);
  }

  /** The settings as the handlers see them (defaults resolved). */
  get settingsResolved(): Settings {
    return (this.resolved ??= resolveSettings(this.settings));
  }

  // --- the group -----------------------------------------------------------------------------

  /** Auto Scaling launches `count` instances (each waits in Pending:Wait for the launch hook). */
  launch(count: number): string[] {
    return this.cloud.autoscaling.launchInstances(this.groupName, count);
  }

  /**
   * Auto Scaling terminates an instance of the group (it waits in Terminating:Wait); a replacement
   * is launched unless `decrementCapacity` (scale in).
   */
  terminate(instanceId: string, decrementCapacity = false): void {
    this.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity });
  }

  /** Instances of the group that are not terminating or gone. */
  liveInstances(): string[] {
    return this.cloud.autoscaling.instanceIds(this.groupName).filter((id) => {
      const state = this.cloud.autoscaling.lifecycleState(id) ?? '';
      return state.startsWith('Pending') || state === 'InService';
    });
  }

  /** Instances of the group that are InService. */
  inService(): string[] {
    return this.cloud.autoscaling
      .instanceIds(this.groupName)
      .filter((id) => this.cloud.autoscaling.lifecycleState(id) === 'InService');
  }

  /** The NodeID whose primary volume an instance holds, if any. */
  nodeIdOf(instanceId: string): string | undefined {
    return this.sets.find((s) => this.holder(s.nodeId) === instanceId)?.nodeId;
  }

  // --- alarms --------------------------------------------------------------------------------

  /** Names of this group's disk alarms. */
  alarmNames(): string[] {
    const prefix = `${this.settingsResolved.alarmPrefix}${this.groupName}-`;
    return this.cloud.cloudwatch.alarmNames().filter((n) => n.startsWith(prefix));
  }

  /** The disk alarm of an instance, with its threshold. */
  alarmOf(instanceId: string): { name: string; threshold: number } | undefined {
    const name = `${this.settingsResolved.alarmPrefix}${this.groupName}-${instanceId}`;
    const out = this.cloud.cloudwatch.handle('DescribeAlarms', { AlarmNames: [name] }) as {
      MetricAlarms?: { AlarmName?: string; Threshold?: number }[];
    };
    const alarm = out.MetricAlarms?.find((a) => a.AlarmName === name);
    return alarm ? { name, threshold: alarm.Threshold ?? 0 } : undefined;
  }

  alarmState(name: string): string | undefined {
    return this.cloud.cloudwatch.alarmState(name);
  }

  /** Sets an alarm's state by hand (SetAlarmState): a state change event follows if it changed. */
  forceAlarm(name: string, state: 'ALARM' | 'OK'): void {
    this.cloud.cloudwatch.handle('SetAlarmState', {
      AlarmName: name,
      StateValue: state,
      StateReason: state === 'ALARM' ? 'disk full (fault campaign)' : 'reset',
    });
  }

  /**
   * What the CloudWatch agent publishes (namespace CWAgent, `drop_device: true`): one
   * disk_used_percent datapoint for the mount point, through a real CloudWatch client.
   */
  async putDiskUsedPercent(instanceId: string, percent: number, fstype: string): Promise<void> {
    // The host's CloudWatch agent publishes as the node role.
    this.agentClients ??= this.cloud.clients({ principal: 'node' });
    await this.agentClients.cloudWatch.send(
      new PutMetricDataCommand({
        Namespace: 'CWAgent',
        MetricData: [
          {
            MetricName: 'disk_used_percent',
            Unit: 'Percent',
            Value: percent,
            Timestamp: new Date(this.cloud.clock.now()),
            Dimensions: [
              { Name: 'InstanceId', Value: instanceId },
              { Name: 'path', Value: this.settingsResolved.mountPoint },
              { Name: 'fstype', Value: fstype },
            ],
          },
        ],
      }),
    );
  }

  /** The same datapoint, straight into the CloudWatch model (no SDK round trip: for fault runs). */
  putDiskUsedPercentNow(instanceId: string, percent: number): void {
    const settings = this.settingsResolved;
    this.cloud.cloudwatch.handle('PutMetricData', {
      Namespace: 'CWAgent',
      MetricData: [
        {
          MetricName: 'disk_used_percent',
          Unit: 'Percent',
          Value: percent,
          Timestamp: new Date(this.cloud.clock.now()),
          Dimensions: [
            { Name: 'InstanceId', Value: instanceId },
            { Name: 'path', Value: settings.mountPoint },
            { Name: 'fstype', Value: settings.filesystem },
          ],
        },
      ],
    });
  }

  /** A scheduled event for the reconciler (not queued on the bus). */
  scheduledEvent(): BusEvent {
    const event = this.cloud.events.put('aws.events', 'Scheduled Event', {}, [
      `arn:aws:events:${this.cloud.region}:${this.cloud.account}:rule/berth-reconcile`,
    ]);
    this.cloud.events.drain('Scheduled Event');
    return event as BusEvent;
  }

  /** Restores the environment this world changed. */
  dispose(): void {
    setClock(systemClock);
    if (this.previousSettings === undefined) delete process.env[SETTINGS_ENV];
    else process.env[SETTINGS_ENV] = this.previousSettings;
  }
}
