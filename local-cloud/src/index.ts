import { AutoScalingClient } from '@aws-sdk/client-auto-scaling';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { EC2Client } from '@aws-sdk/client-ec2';
import { SSMClient } from '@aws-sdk/client-ssm';
import { Authorizer, type AuthorizationView } from './authorization';
import { AutoScalingModel } from './autoscaling';
import { VirtualClock } from './clock';
import { CloudWatchModel } from './cloudwatch';
import { Ec2Model } from './ec2';
import type { ServiceName } from './errors';
import { EventBus } from './events';
import { Random } from './random';
import { SsmModel } from './ssm';
import {
  Accounting,
  Faults,
  plug,
  type Dispatcher,
  type PrincipalSource,
  type ServiceModel,
} from './transport';

export { VirtualClock } from './clock';
export { HandlerKilled } from './transport';
export { actingAs, Authorizer } from './authorization';
export type { BusEvent } from './events';

export interface LocalCloudOptions {
  /** Seed of every random choice (faults, ids): a run replays from it. @default 1 */
  seed?: number;
  region?: string;
  account?: string;
  clock?: VirtualClock;
}

export interface Clients {
  ec2: EC2Client;
  autoScaling: AutoScalingClient;
  ssm: SSMClient;
  cloudWatch: CloudWatchClient;
}

/**
 * An in-memory model of the parts of EC2, Auto Scaling, SSM and CloudWatch that berth calls,
 * plugged in under the real SDK v3 clients. A test double: it keeps AWS's rules and holds no berth
 * logic.
 */
export class LocalCloud implements Dispatcher {
  readonly clock: VirtualClock;
  readonly random: Random;
  readonly faults: Faults;
  readonly accounting = new Accounting();
  readonly region: string;
  readonly account: string;
  readonly events: EventBus;
  readonly ec2: Ec2Model;
  readonly autoscaling: AutoScalingModel;
  readonly ssm: SsmModel;
  readonly cloudwatch: CloudWatchModel;
  /** IAM: judges the calls of clients plugged with a principal. */
  readonly authorizer: Authorizer;

  constructor(options: LocalCloudOptions = {}) {
    this.clock = options.clock ?? new VirtualClock();
    this.random = new Random(options.seed ?? 1);
    this.faults = new Faults(this.random);
    this.region = options.region ?? 'eu-west-1';
    this.account = options.account ?? '111111111111';
    this.events = new EventBus(() => this.clock.now(), this.account, this.region);
    this.ec2 = new Ec2Model(this);
    this.autoscaling = new AutoScalingModel(this);
    this.ssm = new SsmModel(this);
    this.cloudwatch = new CloudWatchModel(this);
    this.authorizer = new Authorizer(this.authorizationView());
  }

  /** What the authorization table reads of the models: ARNs and current tags. */
  private authorizationView(): AuthorizationView {
    return {
      region: this.region,
      account: this.account,
      instanceTags: (id) => this.ec2.instance(id)?.tags,
      volumeTags: (id) => this.ec2.volume(id)?.tags,
      volumeInstance: (id) => this.ec2.volume(id)?.attachments[0]?.instanceId,
      networkInterfaceTags: (id) => this.ec2.networkInterface(id)?.tags,
      networkInterfaceAttachment: (attachmentId) => {
        const eni = this.ec2.networkInterfaces().find((n) => n.attachment?.attachmentId === attachmentId);
        return eni?.attachment
          ? { networkInterfaceId: eni.networkInterfaceId, instanceId: eni.attachment.instanceId }
          : undefined;
      },
      groupArn: (name) => {
        const out = this.autoscaling.handle('DescribeAutoScalingGroups', {
          AutoScalingGroupNames: [name],
        }) as {
          AutoScalingGroups?: { AutoScalingGroupARN?: string }[];
        };
        return out.AutoScalingGroups?.[0]?.AutoScalingGroupARN;
      },
      alarmTags: (name) => {
        try {
          const arn = `arn:aws:cloudwatch:${this.region}:${this.account}:alarm:${name}`;
          const out = this.cloudwatch.handle('ListTagsForResource', { ResourceARN: arn }) as {
            Tags?: { Key?: string; Value?: string }[];
          };
          return Object.fromEntries((out.Tags ?? []).map((t) => [t.Key ?? '', t.Value ?? '']));
        } catch {
          return undefined; // no such alarm yet
        }
      },
    };
  }

  model(service: ServiceName): ServiceModel {
    // Every call first lets the lazily settled models (lifecycle timeouts, alarm evaluation) catch
    // up with the clock, so that what one service did on its own shows in every other service.
    this.events.settle();
    switch (service) {
      case 'ec2':
        return this.ec2;
      case 'autoscaling':
        return this.autoscaling;
      case 'ssm':
        return this.ssm;
      case 'cloudwatch':
        return this.cloudwatch;
    }
  }

  /**
   * Real SDK clients answered by this cloud. `retry` sets the SDK's attempts (default: the SDK's
   * standard 3); retry delays are real timers, so fault-heavy runs pass `retryDelayMs: 0`.
   */
  clients(
    options: { maxAttempts?: number; retryDelayMs?: number; principal?: PrincipalSource } = {},
  ): Clients {
    const config = {
      region: this.region,
      credentials: { accessKeyId: 'AKIALOCALCLOUD', secretAccessKey: 'local-cloud-secret' },
      ...(options.maxAttempts !== undefined ? { maxAttempts: options.maxAttempts } : {}),
    };
    const clients: Clients = {
      ec2: new EC2Client(config),
      autoScaling: new AutoScalingClient(config),
      ssm: new SSMClient(config),
      cloudWatch: new CloudWatchClient(config),
    };
    this.plugAll(clients, {
      ...(options.retryDelayMs !== undefined ? { retryDelayMs: options.retryDelayMs } : {}),
      ...(options.principal !== undefined ? { principal: options.principal } : {}),
    });
    return clients;
  }

  /**
   * Plugs this cloud under clients someone else built (a handler's module-level clients). With a
   * `principal`, every call is judged against that role's policy (IAM) before the model acts.
   */
  plugAll(
    clients: Partial<Clients>,
    options: number | { retryDelayMs?: number; principal?: PrincipalSource } = {},
  ): void {
    const { retryDelayMs, principal } = typeof options === 'number' ? { retryDelayMs: options } : options;
    const pairs: [keyof Clients, ServiceName][] = [
      ['ec2', 'ec2'],
      ['autoScaling', 'autoscaling'],
      ['ssm', 'ssm'],
      ['cloudWatch', 'cloudwatch'],
    ];
    for (const [key, service] of pairs) {
      const client = clients[key];
      if (!client) continue;
      plug(client as never, service, this, principal);
      if (retryDelayMs !== undefined) setRetryDelay(client, retryDelayMs);
    }
  }
}

/** Replaces the SDK's backoff delay (real timers) while keeping its retry decisions. */
function setRetryDelay(client: { config: unknown }, delayMs: number): void {
  const config = client.config as { retryStrategy?: () => Promise<unknown> };
  const original = config.retryStrategy;
  if (!original) return;
  config.retryStrategy = async () => {
    const strategy = (await original()) as {
      computeNextBackoffDelay?: unknown;
      retryBackoffStrategy?: unknown;
    };
    const backoff = strategy.retryBackoffStrategy as
      { computeNextBackoffDelay?: (n: number) => number } | undefined;
    if (backoff) backoff.computeNextBackoffDelay = () => delayMs;
    return strategy;
  };
}
