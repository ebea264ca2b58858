import { fail } from '../errors';
import type { LocalCloud } from '../index';
import { Agenda } from './agenda';
import type { EniAttach, EniRec, InstanceRec, SubnetRec, VolumeRec } from './records';
import type {
  Ec2Hooks,
  Ec2RequestBuckets,
  Ec2Timing,
  LocalAttachmentState,
  LocalInstance,
  LocalInstanceType,
  LocalNetworkInterface,
  LocalVolume,
  LocalVolumeState,
} from './types';
import { deepFreeze, ipToNumber, numberToIp, required } from './util';
import { buildEniView, buildInstanceView, buildVolumeView } from './views';

export const VOLUME_ID = /^vol-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;
export const ENI_ID = /^eni-([0-9a-f]{8}|[0-9a-f]{17})$/;

/** What the EC2 model's tunables are (the public, mutable fields of Ec2Model). */
export interface Ec2Settings {
  timing: Ec2Timing;
  modificationRule: 'four-per-24h' | 'one-per-6h';
  hooks: Ec2Hooks;
  stuckAttachRate: number;
  stickNextAttachments: number;
  readonly stuckAttachments: string[];
  requestBuckets: Ec2RequestBuckets | undefined;
  readonly instanceTypes: Record<string, LocalInstanceType>;
  ebsDefaultKmsKeyId: string | undefined;
  readonly kmsAliases: Record<string, string>;
}

/**
 * The state every EC2 resource module works on: the records, the timed transitions, ids, request
 * buckets, view caching, and the checks and lookups the API calls share (require*, check*).
 */
export class Ec2State {
  readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly agenda = new Agenda();
  readonly vpcs = new Map<string, { id: string; cidr: string }>();
  readonly subnets = new Map<string, SubnetRec>();
  readonly azs = new Map<string, string>(); // name -> zone id
  readonly volumeMap = new Map<string, VolumeRec>();
  readonly instanceMap = new Map<string, InstanceRec>();
  readonly eniMap = new Map<string, EniRec>();
  readonly eniByAttachment = new Map<string, EniRec>();
  readonly clientTokens = new Map<string, { fingerprint: string; volumeId: string }>();
  readonly usedIds = new Set<string>();
  /** Instance ids to hand out next, in order, before generated ones (seeding: `nextInstanceIds`). */
  readonly queuedInstanceIds: string[] = [];
  /**
   * Views are cached per record and frozen; any change to the state (a mutating call, a seeding
   * call, a transition falling due) moves the revision on and so invalidates them. Other models
   * read instance() for every instance on every tick: this keeps that O(changes), not O(reads).
   */
  revision = 0;
  readonly viewCache = new WeakMap<object, { revision: number; view: unknown }>();
  vpcCount = 0;

  constructor(
    readonly cloud: LocalCloud,
    readonly settings: Ec2Settings,
  ) {}

  now(): number {
    return this.cloud.clock.now();
  }

  /** Applies every timed transition that is due (lazily, from the virtual clock). */
  settle(): void {
    if (this.agenda.runDue(this.now()) > 0) this.revision++;
  }

  /** One token from the operation's bucket, or RequestLimitExceeded (before any effect). */
  takeToken(operation: string, input: Record<string, unknown>, limits: Ec2RequestBuckets): void {
    const describe = operation.startsWith('Describe');
    const unfiltered =
      describe &&
      input.MaxResults === undefined &&
      !(Array.isArray(input.Filters) && input.Filters.length > 0) &&
      !Object.entries(input).some(([k, v]) => k.endsWith('Ids') && Array.isArray(v) && v.length > 0);
    const limit =
      limits.perAction[operation] ??
      (unfiltered ? limits.unfilteredNonMutating : describe ? limits.nonMutating : limits.mutating);
    const key = unfiltered ? `${operation}:unfiltered` : operation;
    const now = this.now();
    const bucket = this.buckets.get(key) ?? { tokens: limit.size, at: now };
    const refills = Math.floor((now - bucket.at) / 1000);
    if (refills > 0) {
      bucket.tokens = Math.min(limit.size, bucket.tokens + refills * limit.refillPerSecond);
      bucket.at += refills * 1000;
    }
    if (bucket.tokens < 1) {
      this.buckets.set(key, bucket);
      throw fail('RequestLimitExceeded', 'Request limit exceeded.', 503);
    }
    bucket.tokens -= 1;
    this.buckets.set(key, bucket);
  }

  /** Runs a change of state: views cached before or during it are stale after it. */
  mutation<T>(change: () => T): T {
    this.revision++;
    try {
      return change();
    } finally {
      this.revision++;
    }
  }

  cached<R extends object, V extends object>(record: R, build: (record: R) => V): V {
    const hit = this.viewCache.get(record);
    if (hit && hit.revision === this.revision) return hit.view as V;
    const view = deepFreeze(build(record));
    this.viewCache.set(record, { revision: this.revision, view });
    return view;
  }

  /**
   * A new resource id: the prefix and 17 lowercase hex digits, as EC2's long ids. An instance id
   * begins `i-0` as every instance id EC2 gives today does (`i-0` + 16 hex, e.g.
   * i-0123456789abcdef0 in the EC2 API reference); berth's alarm audit shards on the digit after it.
   * The 17 draws are made for every id either way, so a seed gives the same sequence as before.
   */
  newId(prefix: string): string {
    const queued = prefix === 'i-' ? this.queuedInstanceIds.shift() : undefined;
    if (queued !== undefined) {
      this.usedIds.add(queued);
      return queued;
    }
    for (;;) {
      let hex = '';
      for (let i = 0; i < 17; i++) hex += this.cloud.random.int(16).toString(16);
      if (prefix === 'i-') hex = `0${hex.slice(1)}`;
      const id = prefix + hex;
      if (!this.usedIds.has(id)) {
        this.usedIds.add(id);
        return id;
      }
    }
  }

  makeVolume(
    spec: Omit<VolumeRec, 'id' | 'createTime' | 'state' | 'modifications'>,
    state: LocalVolumeState,
  ): VolumeRec {
    const volume: VolumeRec = {
      ...spec,
      id: this.newId('vol-'),
      createTime: this.now(),
      state,
      modifications: [],
    };
    if (volume.volumeType === 'gp3') {
      volume.iops ??= 3000;
      volume.throughput ??= 125;
    } else if (volume.volumeType === 'gp2') {
      volume.iops ??= Math.min(16000, Math.max(100, 3 * volume.size));
    }
    this.volumeMap.set(volume.id, volume);
    return volume;
  }

  makeEni(
    subnet: SubnetRec,
    privateIp: string | undefined,
    description: string,
    tags: Map<string, string>,
  ): EniRec {
    let offset: number;
    if (privateIp !== undefined) {
      const address = ipToNumber(privateIp);
      offset = address - subnet.base;
      if (Number.isNaN(address) || offset < 0 || offset >= subnet.size) {
        throw fail(
          'InvalidParameterValue',
          `Address ${privateIp} does not fall within the subnet's address range`,
        );
      }
      // "The first four IP addresses and the last IP address in each subnet CIDR block are not
      // available for your use" (Amazon VPC User Guide, subnet sizing).
      if (offset < 4 || offset === subnet.size - 1) {
        throw fail('InvalidParameterValue', `Address ${privateIp} is reserved by AWS`);
      }
      if (subnet.used.has(offset))
        throw fail('InvalidIPAddress.InUse', `The specified address ${privateIp} is already in use.`);
    } else {
      offset = this.allocateIp(subnet);
    }
    subnet.used.add(offset);
    const id = this.newId('eni-');
    const eni: EniRec = {
      id,
      subnet,
      privateIp: numberToIp(subnet.base + offset),
      description,
      tags,
      status: 'available',
      mac: `02:${id.slice(4, 14).replace(/(..)(?!$)/g, '$1:')}`,
    };
    this.eniMap.set(id, eni);
    return eni;
  }

  allocateIp(subnet: SubnetRec): number {
    const last = subnet.size - 2;
    for (let tries = 0; tries <= subnet.size; tries++) {
      if (subnet.next > last) subnet.next = 4;
      const offset = subnet.next++;
      if (!subnet.used.has(offset)) return offset;
    }
    throw fail(
      'InsufficientFreeAddressesInSubnet',
      `There are not enough free addresses in subnet '${subnet.id}' to satisfy the requested number of instances.`,
    );
  }

  linkEni(
    eni: EniRec,
    instance: InstanceRec,
    deviceIndex: number,
    deleteOnTermination: boolean,
    state: LocalAttachmentState,
    at: number,
  ): EniAttach {
    const attachment: EniAttach = {
      attachmentId: this.newId('eni-attach-'),
      instance,
      deviceIndex,
      state,
      attachTime: at,
      deleteOnTermination,
    };
    eni.attachment = attachment;
    eni.status = 'in-use';
    instance.enis.set(deviceIndex, eni);
    this.eniByAttachment.set(attachment.attachmentId, eni);
    return attachment;
  }

  removeEni(eni: EniRec): void {
    this.eniMap.delete(eni.id);
    eni.subnet.used.delete(ipToNumber(eni.privateIp) - eni.subnet.base);
  }

  checkVolumeId(id: string): void {
    if (!VOLUME_ID.test(id))
      throw fail('InvalidVolumeID.Malformed', `Invalid id: "${id}" (expecting "vol-...")`);
  }

  checkInstanceId(id: string): void {
    if (!INSTANCE_ID.test(id))
      throw fail('InvalidInstanceID.Malformed', `Invalid id: "${id}" (expecting "i-...")`);
  }

  checkEniId(id: string): void {
    if (!ENI_ID.test(id))
      throw fail('InvalidNetworkInterfaceID.Malformed', `Invalid id: "${id}" (expecting "eni-...")`);
  }

  requireVolume(id: string | undefined): VolumeRec {
    const volumeId = required(id, 'VolumeId');
    this.checkVolumeId(volumeId);
    const volume = this.volumeMap.get(volumeId);
    if (!volume || this.hidden(volume)) {
      throw fail('InvalidVolume.NotFound', `The volume '${volumeId}' does not exist.`);
    }
    return volume;
  }

  /** Created so recently that the API does not see it yet (timing.consistencyMs). */
  hidden(resource: { visibleAt?: number }): boolean {
    return resource.visibleAt !== undefined && resource.visibleAt > this.now();
  }

  requireInstance(id: string | undefined): InstanceRec {
    const instanceId = required(id, 'InstanceId');
    this.checkInstanceId(instanceId);
    const instance = this.instanceMap.get(instanceId);
    if (!instance || this.hidden(instance))
      throw fail('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return instance;
  }

  requireEni(id: string | undefined): EniRec {
    const eniId = required(id, 'NetworkInterfaceId');
    this.checkEniId(eniId);
    const eni = this.eniMap.get(eniId);
    if (!eni || this.hidden(eni))
      throw fail('InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${eniId}' does not exist`);
    return eni;
  }

  volumeView(v: VolumeRec): LocalVolume {
    return this.cached(v, (x) => buildVolumeView(x));
  }

  instanceView(i: InstanceRec): LocalInstance {
    return this.cached(i, (x) => buildInstanceView(x));
  }

  eniView(e: EniRec): LocalNetworkInterface {
    return this.cached(e, (x) => buildEniView(x));
  }
}
