import type {
  AttachNetworkInterfaceRequest,
  AttachVolumeRequest,
  AvailabilityZone,
  CreateNetworkInterfaceRequest,
  CreateTagsRequest,
  CreateVolumeRequest,
  DeleteNetworkInterfaceRequest,
  DeleteTagsRequest,
  DeleteVolumeRequest,
  DescribeAvailabilityZonesRequest,
  DescribeInstancesRequest,
  DescribeInstanceTypesRequest,
  DescribeNetworkInterfacesRequest,
  DescribeSubnetsRequest,
  DescribeVolumesModificationsRequest,
  DescribeVolumesRequest,
  DetachNetworkInterfaceRequest,
  DetachVolumeRequest,
  Instance,
  InstanceTypeInfo,
  ModifyInstanceAttributeRequest,
  ModifyNetworkInterfaceAttributeRequest,
  ModifyVolumeRequest,
  NetworkInterface,
  Subnet,
  Tag,
  TagSpecification,
  TerminateInstancesRequest,
  Volume,
  VolumeAttachment,
  VolumeModification,
} from '@aws-sdk/client-ec2';
import { fail } from './errors';
import { compileFilters, type FilterSpec } from './filters';
import type { LocalCloud } from './index';
import { paginate } from './paging';
import { unknownOperation, type ServiceModel } from './transport';

/*
 * The EC2 part of the local cloud (issue 2). What it keeps from AWS, and what it simplifies:
 *
 * Modelled: VPC/subnets/AZs (seeded); instances pending → running → shutting-down → terminated
 * (visible one hour), each with a primary ENI (index 0) and a gp3 root volume at /dev/xvda, both
 * DeleteOnTermination; volumes creating → available → in-use → deleting, attachments attaching →
 * attached → detaching → detached, ENIs available/in-use with attaching → attached → detaching;
 * AZ matching, device names (format, collisions), ENI device indexes, attachment limits by
 * instance type (shared limit counts ENIs and the root volume; dedicated counts volumes only);
 * CreateVolume bounds per type, defaults, ClientToken idempotency; ModifyVolume states and both
 * rate rules; DeleteOnTermination through ModifyInstanceAttribute / ModifyNetworkInterfaceAttribute;
 * tags (aws: prefix, 50 per resource, TagSpecifications resource type); Describe* filters with
 * wildcards and MaxResults/NextToken; DryRun; AWS error codes and, where known, their messages.
 * Opt-in realism: timing.deviceReleaseMs (a just-detached device name stays taken),
 * timing.consistencyMs (eventual consistency after create), requestBuckets (per-API token
 * buckets answering RequestLimitExceeded).
 *
 * Simplified: no stopped state (AttachVolume to a stopped instance is legal in AWS), no
 * snapshots (SnapshotId needs Size), no Multi-Attach, no security groups, one IP per ENI, one
 * instance per reservation, every permission granted, modification never `failed`, pagination
 * tokens are offsets (AWS's are opaque; both may skip or repeat items that change meanwhile).
 */

// ---------------------------------------------------------------------------------------------
// Public read-only views (what tests and the other local-cloud models read)
// ---------------------------------------------------------------------------------------------

export type LocalVolumeState = 'creating' | 'available' | 'in-use' | 'deleting' | 'deleted';
export type LocalAttachmentState = 'attaching' | 'attached' | 'detaching' | 'detached';
export type LocalInstanceState =
  'pending' | 'running' | 'stopping' | 'stopped' | 'shutting-down' | 'terminated';
export type LocalVolumeType = 'gp2' | 'gp3' | 'io1' | 'io2' | 'st1' | 'sc1' | 'standard';

export interface LocalVolume {
  volumeId: string;
  state: LocalVolumeState;
  size: number;
  availabilityZone: string;
  tags: Record<string, string>;
  attachments: {
    instanceId: string;
    device: string;
    state: LocalAttachmentState;
    deleteOnTermination: boolean;
    /** Epoch ms (virtual) of the AttachVolume. */
    attachTime?: number;
  }[];
  encrypted: boolean;
  volumeType: LocalVolumeType;
  iops?: number;
  throughput?: number;
  kmsKeyId?: string;
  snapshotId?: string;
  /** The latest modification, if any. */
  modification?: { state: 'modifying' | 'optimizing' | 'completed'; targetSize: number; startTime: number };
}

export interface LocalInstance {
  instanceId: string;
  state: LocalInstanceState;
  instanceType: string;
  availabilityZone: string;
  subnetId: string;
  vpcId: string;
  privateIp: string;
  tags: Record<string, string>;
  volumes: { volumeId: string; device: string; state: LocalAttachmentState; deleteOnTermination: boolean }[];
  networkInterfaces: {
    networkInterfaceId: string;
    deviceIndex: number;
    privateIp: string;
    state: LocalAttachmentState;
  }[];
}

export interface LocalNetworkInterface {
  networkInterfaceId: string;
  state: 'available' | 'in-use';
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  privateIp: string;
  description: string;
  tags: Record<string, string>;
  attachment?: {
    attachmentId: string;
    instanceId: string;
    deviceIndex: number;
    state: LocalAttachmentState;
    deleteOnTermination: boolean;
  };
}

export interface Ec2Timing {
  createVolumeMs: number;
  deleteVolumeMs: number;
  /**
   * How long a device name stays taken on the instance after its volume reads `available` again.
   * Not in the API reference; observed on AWS ("an attach to the same slot is still refused ~7 s
   * later with 'Attachment point /dev/sdf is already in use'"), hence ARCHITECTURE.md's "do not
   * reuse a name just detached". Off (0) by default; the demo and end-to-end runs can turn it on.
   */
  deviceReleaseMs: number;
  /**
   * Eventual consistency: for this long after CreateVolume / CreateNetworkInterface the new id
   * answers NotFound and filtered Describe* calls leave it out ("If you try to use a resource
   * right after you create it, you might get an error because the resource hasn't propagated",
   * "Eventual consistency in the Amazon EC2 API",
   * https://docs.aws.amazon.com/ec2/latest/devguide/eventual-consistency.html). Off (0) by default.
   */
  consistencyMs: number;
  attachMs: number;
  detachMs: number;
  instanceBootMs: number;
  instanceTerminateMs: number;
  modifyingMs: number;
  optimizingMs: number;
}

export interface Ec2Hooks {
  /** A volume came into existence (CreateVolume or seeding), in state `creating` or `available`. */
  volumeCreated?: (volume: LocalVolume) => void;
  /** A size increase became usable (the modification reached `optimizing`). */
  volumeModified?: (volume: LocalVolume, newSizeGiB: number) => void;
  /** A volume is being deleted (DeleteVolume, or DeleteOnTermination), with its tags as they were. */
  volumeDeleted?: (volume: LocalVolume, why: 'DeleteVolume' | 'DeleteOnTermination') => void;
}

export interface Ec2Bucket {
  size: number;
  refillPerSecond: number;
}

export interface Ec2RequestBuckets {
  nonMutating: Ec2Bucket;
  /** Describe* without filters, ids or MaxResults: "unfiltered and unpaginated non-mutating actions". */
  unfilteredNonMutating: Ec2Bucket;
  mutating: Ec2Bucket;
  /** Per-API overrides (the page lists some APIs with their own sizes). */
  perAction: Record<string, Ec2Bucket>;
}

/**
 * Default bucket sizes, from "Request token bucket sizes and refill rates" of "Request throttling for
 * the Amazon EC2 API" (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html),
 * each figure as the page gives it: non-mutating actions (Describe*, not in another category) 100
 * tokens refilled at 20 per second; unfiltered and unpaginated non-mutating actions (the page lists
 * DescribeInstances, DescribeInstanceStatus, DescribeNetworkInterfaces, DescribeSecurityGroups,
 * DescribeSnapshots, DescribeSpotInstanceRequests, DescribeVolumes; this model applies the bucket to
 * any unfiltered Describe*) 50 at 10; mutating actions 50 at 5; and, among the page's uncategorized
 * actions, the ones berth calls or could: CreateTags and DeleteTags 100 at 10, CreateVolume,
 * DeleteVolume, CreateNetworkInterface, DeleteNetworkInterface, ModifyNetworkInterfaceAttribute and
 * TerminateInstances 100 at 5, RunInstances 5 at 2. Accounts can have raised limits.
 */
export const EC2_REQUEST_BUCKETS: Ec2RequestBuckets = {
  nonMutating: { size: 100, refillPerSecond: 20 },
  unfilteredNonMutating: { size: 50, refillPerSecond: 10 },
  mutating: { size: 50, refillPerSecond: 5 },
  perAction: {
    CreateTags: { size: 100, refillPerSecond: 10 },
    DeleteTags: { size: 100, refillPerSecond: 10 },
    CreateVolume: { size: 100, refillPerSecond: 5 },
    DeleteVolume: { size: 100, refillPerSecond: 5 },
    CreateNetworkInterface: { size: 100, refillPerSecond: 5 },
    DeleteNetworkInterface: { size: 100, refillPerSecond: 5 },
    ModifyNetworkInterfaceAttribute: { size: 100, refillPerSecond: 5 },
    TerminateInstances: { size: 100, refillPerSecond: 5 },
    RunInstances: { size: 5, refillPerSecond: 2 },
  },
};

/** What DescribeInstanceTypes answers and what the attachment limits are checked against. */
export interface LocalInstanceType {
  maximumEbsAttachments: number;
  attachmentLimitType: 'shared' | 'dedicated';
  maximumNetworkInterfaces: number;
  vcpus: number;
  memoryMiB: number;
  architecture: 'x86_64' | 'arm64';
}

/**
 * Instance types the local cloud knows. Numbers from the EC2 instance-type specifications and
 * "Amazon EBS volume limits for Amazon EC2 instances"
 * (https://docs.aws.amazon.com/ebs/latest/userguide/volume_limits.html): Nitro instances with a
 * *shared* limit have 28 attachments shared by EBS volumes (root included), network interfaces and
 * NVMe instance-store volumes; instance types with a *dedicated* limit count EBS volumes alone
 * (`EbsInfo.AttachmentLimitType`, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_EbsInfo.html).
 * The table is public and mutable, so a test can add a type. Not verified against the
 * volume_limits table (not reachable from here): whether r8g.large has a dedicated limit, and
 * m7i.48xlarge's exact dedicated figure (128 is the largest documented dedicated limit).
 */
export const INSTANCE_TYPES: Record<string, LocalInstanceType> = {
  't3.micro': {
    maximumEbsAttachments: 28,
    attachmentLimitType: 'shared',
    maximumNetworkInterfaces: 2,
    vcpus: 2,
    memoryMiB: 1024,
    architecture: 'x86_64',
  },
  'm5.large': {
    maximumEbsAttachments: 28,
    attachmentLimitType: 'shared',
    maximumNetworkInterfaces: 3,
    vcpus: 2,
    memoryMiB: 8192,
    architecture: 'x86_64',
  },
  'm7g.large': {
    maximumEbsAttachments: 28,
    attachmentLimitType: 'shared',
    maximumNetworkInterfaces: 3,
    vcpus: 2,
    memoryMiB: 8192,
    architecture: 'arm64',
  },
  'c7g.xlarge': {
    maximumEbsAttachments: 28,
    attachmentLimitType: 'shared',
    maximumNetworkInterfaces: 4,
    vcpus: 4,
    memoryMiB: 8192,
    architecture: 'arm64',
  },
  'r8g.large': {
    maximumEbsAttachments: 28,
    attachmentLimitType: 'shared',
    maximumNetworkInterfaces: 3,
    vcpus: 2,
    memoryMiB: 16384,
    architecture: 'arm64',
  },
  'm7i.48xlarge': {
    maximumEbsAttachments: 128,
    attachmentLimitType: 'dedicated',
    maximumNetworkInterfaces: 50,
    vcpus: 192,
    memoryMiB: 786432,
    architecture: 'x86_64',
  },
};

// ---------------------------------------------------------------------------------------------
// Internal records
// ---------------------------------------------------------------------------------------------

interface SubnetRec {
  id: string;
  vpcId: string;
  az: string;
  azId: string;
  cidr: string;
  base: number;
  size: number;
  next: number;
  used: Set<number>;
}

interface VolAttach {
  instance: InstanceRec;
  device: string;
  state: LocalAttachmentState;
  attachTime: number;
  deleteOnTermination: boolean;
  /** Stuck in `attaching` (fault injection): only a forced detach releases it. */
  stuck?: boolean;
}

interface ModRec {
  state: 'modifying' | 'optimizing' | 'completed';
  startTime: number;
  endTime?: number;
  originalSize: number;
  targetSize: number;
  originalType: LocalVolumeType;
  targetType: LocalVolumeType;
  originalIops?: number;
  targetIops?: number;
  originalThroughput?: number;
  targetThroughput?: number;
}

interface VolumeRec {
  id: string;
  az: string;
  size: number;
  volumeType: LocalVolumeType;
  iops?: number;
  throughput?: number;
  encrypted: boolean;
  kmsKeyId?: string;
  snapshotId?: string;
  createTime: number;
  /** Not visible to the API before this time (eventual consistency); absent: visible. */
  visibleAt?: number;
  state: LocalVolumeState;
  tags: Map<string, string>;
  attachment?: VolAttach;
  modifications: ModRec[];
}

interface EniAttach {
  attachmentId: string;
  instance: InstanceRec;
  deviceIndex: number;
  state: LocalAttachmentState;
  attachTime: number;
  deleteOnTermination: boolean;
}

interface EniRec {
  id: string;
  subnet: SubnetRec;
  privateIp: string;
  description: string;
  tags: Map<string, string>;
  status: 'available' | 'in-use';
  attachment?: EniAttach;
  mac: string;
  /** Not visible to the API before this time (eventual consistency); absent: visible. */
  visibleAt?: number;
}

interface InstanceRec {
  id: string;
  instanceType: string;
  subnet: SubnetRec;
  privateIp: string;
  tags: Map<string, string>;
  state: LocalInstanceState;
  launchTime: number;
  reservationId: string;
  /** Device name → volume (attaching, attached or detaching: the name is taken until detached). */
  devices: Map<string, VolumeRec>;
  /** Device index → ENI. */
  enis: Map<number, EniRec>;
  transitionReason: string;
  /** Device name → time until which it stays taken after a detach (see timing.deviceReleaseMs). */
  heldDevices: Map<string, number>;
}

const STATE_CODES: Record<LocalInstanceState, number> = {
  pending: 0,
  running: 16,
  'shutting-down': 32,
  terminated: 48,
  stopping: 64,
  stopped: 80,
};

/** A min-heap of timed transitions: settling costs O(due transitions × log n), not O(state). */
class Agenda {
  private heap: { due: number; seq: number; run: (due: number) => void }[] = [];
  private seq = 0;

  at(due: number, run: (due: number) => void): void {
    const heap = this.heap;
    heap.push({ due, seq: this.seq++, run });
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.less(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  /** Runs every transition due by `now`, in time order; returns how many ran. */
  runDue(now: number): number {
    const heap = this.heap;
    let ran = 0;
    for (; ; ran++) {
      const top = heap[0];
      if (!top || top.due > now) return ran;
      const last = heap.pop();
      if (last && heap.length > 0) {
        heap[0] = last;
        this.down(0);
      }
      top.run(top.due);
    }
  }

  private down(i: number): void {
    const n = this.heap.length;
    for (;;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let m = i;
      if (l < n && this.less(l, m)) m = l;
      if (r < n && this.less(r, m)) m = r;
      if (m === i) return;
      this.swap(i, m);
      i = m;
    }
  }

  private less(a: number, b: number): boolean {
    const x = this.heap[a];
    const y = this.heap[b];
    if (!x || !y) return false;
    return x.due < y.due || (x.due === y.due && x.seq < y.seq);
  }

  private swap(a: number, b: number): void {
    const x = this.heap[a];
    const y = this.heap[b];
    if (!x || !y) return;
    this.heap[a] = y;
    this.heap[b] = x;
  }
}

/**
 * Size/IOPS/throughput bounds per volume type, from the current CreateVolume and ModifyVolume API
 * reference (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html).
 * gp3 follows the figures of the API reference at the time of writing (1–65,536 GiB,
 * 3,000–80,000 IOPS at most 500 per GiB, 125–2,000 MiB/s at most 0.25 MiB/s per IOPS); the
 * older gp3 figures (16,384 GiB, 16,000 IOPS, 1,000 MiB/s) are inside these bounds.
 */
const VOLUME_BOUNDS: Record<
  LocalVolumeType,
  { minSize: number; maxSize: number; iops?: { min: number; max: number; perGiB: number; required: boolean } }
> = {
  gp2: { minSize: 1, maxSize: 16384 },
  gp3: { minSize: 1, maxSize: 65536, iops: { min: 3000, max: 80000, perGiB: 500, required: false } },
  io1: { minSize: 4, maxSize: 16384, iops: { min: 100, max: 64000, perGiB: 50, required: true } },
  io2: { minSize: 4, maxSize: 65536, iops: { min: 100, max: 256000, perGiB: 1000, required: true } },
  st1: { minSize: 125, maxSize: 16384 },
  sc1: { minSize: 125, maxSize: 16384 },
  standard: { minSize: 1, maxSize: 1024 },
};
const GP3_THROUGHPUT = { min: 125, max: 2000, perIops: 0.25 };

const VOLUME_ID = /^vol-([0-9a-f]{8}|[0-9a-f]{17})$/;
const INSTANCE_ID = /^i-([0-9a-f]{8}|[0-9a-f]{17})$/;
const ENI_ID = /^eni-([0-9a-f]{8}|[0-9a-f]{17})$/;
/**
 * Device names EC2 accepts for EBS on Linux ("Device names on Linux instances",
 * https://docs.aws.amazon.com/ebs/latest/userguide/device_naming.html): /dev/sd[a-z], /dev/sd[a-z]N,
 * /dev/xvd[a-z], /dev/xvd[a-z][a-z]; `xvdf`-style bare names are accepted too.
 */
const DEVICE_NAME = /^(\/dev\/(sd[a-z][a-z]?([1-9]|1[0-5])?|xvd[a-z][a-z]?)|xvd[a-z][a-z]?)$/;

/** The EC2 part of the local cloud. */
export class Ec2Model implements ServiceModel {
  /** Delays of the state transitions (virtual milliseconds). Public and mutable. */
  timing: Ec2Timing = {
    createVolumeMs: 1500,
    deleteVolumeMs: 1000,
    deviceReleaseMs: 0,
    consistencyMs: 0,
    attachMs: 2000,
    detachMs: 3000,
    instanceBootMs: 20000,
    instanceTerminateMs: 30000,
    modifyingMs: 5000,
    optimizingMs: 60000,
  };
  /**
   * ModifyVolume rate rule. `four-per-24h`: "You can modify a volume up to four times within a
   * rolling 24-hour period, as long as the volume is in the in-use or available state, and all
   * previous modifications for that volume are complete" (current ModifyVolume API reference,
   * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html); `one-per-6h`:
   * "After modifying a volume, you must wait at least six hours … before you can modify the same
   * volume" (the older text of the same page, still in some SDK docs). The six hours run from the
   * start of the previous modification. Both answer VolumeModificationRateExceeded.
   */
  modificationRule: 'four-per-24h' | 'one-per-6h' = 'four-per-24h';
  hooks: Ec2Hooks = {};
  /**
   * Share of AttachVolume calls whose attachment sticks in `attaching` (fault injection). A stuck
   * attachment never reaches `attached` (so nothing on the host can mount it); a plain DetachVolume
   * leaves it as it is, DetachVolume with Force releases it. The EBS User Guide's troubleshooting
   * page "volume stuck in the attaching state" gives force-detaching as the recovery; that a plain
   * detach does not release it is this model's (pessimistic) assumption.
   */
  stuckAttachRate = 0;
  /** The next AttachVolume calls (this many) stick in `attaching` whatever the rate. */
  stickNextAttachments = 0;
  /** Attachments that stuck so far (volume ids), for the fault counts. */
  readonly stuckAttachments: string[] = [];
  /**
   * Request rate limiting as "Request throttling for the Amazon EC2 API" describes it
   * (https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html): a token bucket per
   * API and account, one token per request, refilled every second up to its size; an empty bucket
   * answers RequestLimitExceeded. The page's example: DescribeHosts, a non-mutating action, has
   * 100 tokens refilled at 20 per second. `undefined` (default): no throttling beyond the
   * transport's random `faults.throttleRate`. Set it to `{ ...EC2_REQUEST_BUCKETS }` or your own.
   */
  requestBuckets: Ec2RequestBuckets | undefined = undefined;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  readonly instanceTypes: Record<string, LocalInstanceType> = { ...INSTANCE_TYPES };

  private readonly agenda = new Agenda();
  private readonly vpcs = new Map<string, { id: string; cidr: string }>();
  private readonly subnets = new Map<string, SubnetRec>();
  private readonly azs = new Map<string, string>(); // name -> zone id
  private readonly volumeMap = new Map<string, VolumeRec>();
  private readonly instanceMap = new Map<string, InstanceRec>();
  private readonly eniMap = new Map<string, EniRec>();
  private readonly eniByAttachment = new Map<string, EniRec>();
  private readonly clientTokens = new Map<string, { fingerprint: string; volumeId: string }>();
  private readonly usedIds = new Set<string>();
  /**
   * Views are cached per record and frozen; any change to the state (a mutating call, a seeding
   * call, a transition falling due) moves the revision on and so invalidates them. Other models
   * read instance() for every instance on every tick: this keeps that O(changes), not O(reads).
   */
  private revision = 0;
  private readonly viewCache = new WeakMap<object, { revision: number; view: unknown }>();
  private vpcCount = 0;

  constructor(readonly cloud: LocalCloud) {}

  // -------------------------------------------------------------------------------------------
  // Seeding API (not AWS calls)
  // -------------------------------------------------------------------------------------------

  /** A VPC with one subnet (/20 each) per AZ. */
  seedNetwork(options: { azs: string[]; cidr?: string }): { vpcId: string; subnets: Record<string, string> } {
    return this.mutation(() => {
      const cidr = options.cidr ?? `10.${this.vpcCount % 256}.0.0/16`;
      this.vpcCount++;
      const [address, bitsText] = cidr.split('/');
      const bits = Number(bitsText);
      const base = ipToNumber(address ?? '');
      if (!Number.isInteger(bits) || bits < 16 || bits > 28 || Number.isNaN(base)) {
        throw new Error(`seedNetwork: unsupported CIDR ${cidr}`);
      }
      const vpcId = this.newId('vpc-');
      this.vpcs.set(vpcId, { id: vpcId, cidr });
      const subnetBits = Math.min(28, bits + 4);
      const subnetSize = 2 ** (32 - subnetBits);
      const subnets: Record<string, string> = {};
      options.azs.forEach((az, index) => {
        if (!this.azs.has(az)) this.azs.set(az, `${regionShort(this.cloud.region)}-az${this.azs.size + 1}`);
        const subnetBase = base + index * subnetSize;
        const id = this.newId('subnet-');
        this.subnets.set(id, {
          id,
          vpcId,
          az,
          azId: this.azs.get(az) ?? az,
          cidr: `${numberToIp(subnetBase)}/${subnetBits}`,
          base: subnetBase,
          size: subnetSize,
          next: 4,
          used: new Set(),
        });
        subnets[az] = id;
      });
      return { vpcId, subnets };
    });
  }

  /** RunInstances-like seeding: one instance, `pending` then `running` after `timing.instanceBootMs`. */
  runInstance(options: {
    subnetId: string;
    instanceType?: string;
    tags?: Record<string, string>;
    privateIp?: string;
    /** Root volume size in GiB (gp3, /dev/xvda, DeleteOnTermination true); `0` for none. @default 8 */
    rootVolumeGiB?: number;
  }): string {
    return this.mutation(() => {
      this.settle();
      const subnet = this.subnets.get(options.subnetId);
      if (!subnet) throw new Error(`runInstance: unknown subnet ${options.subnetId}`);
      const instanceType = options.instanceType ?? 'm5.large';
      if (!this.instanceTypes[instanceType])
        throw new Error(`runInstance: unknown instance type ${instanceType}`);
      const now = this.now();
      const eni = this.makeEni(subnet, options.privateIp, 'Primary network interface', new Map());
      const instance: InstanceRec = {
        id: this.newId('i-'),
        instanceType,
        subnet,
        privateIp: eni.privateIp,
        tags: new Map(Object.entries(options.tags ?? {})),
        state: 'pending',
        launchTime: now,
        reservationId: this.newId('r-'),
        devices: new Map(),
        enis: new Map(),
        transitionReason: '',
        heldDevices: new Map(),
      };
      this.instanceMap.set(instance.id, instance);
      this.linkEni(eni, instance, 0, true, 'attached', now);
      const rootGiB = options.rootVolumeGiB ?? 8;
      if (rootGiB > 0) {
        const root = this.makeVolume(
          { az: subnet.az, size: rootGiB, volumeType: 'gp3', encrypted: false, tags: new Map() },
          'in-use',
        );
        root.attachment = {
          instance,
          device: '/dev/xvda',
          state: 'attached',
          attachTime: now,
          deleteOnTermination: true,
        };
        instance.devices.set('/dev/xvda', root);
      }
      this.agenda.at(now + this.timing.instanceBootMs, () => {
        if (instance.state === 'pending') instance.state = 'running';
      });
      return instance.id;
    });
  }

  /**
   * `shutting-down` now, `terminated` after `timing.instanceTerminateMs`; then volumes with
   * DeleteOnTermination are deleted, other volumes and ENIs detached (`available`), and ENIs with
   * DeleteOnTermination (the primary one) deleted. The instance stays visible for an hour
   * ("Terminated instances remain visible after termination (for approximately one hour)",
   * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html).
   */
  terminateInstance(instanceId: string): void {
    return this.mutation(() => {
      this.settle();
      const instance = this.instanceMap.get(instanceId);
      if (!instance) throw new Error(`terminateInstance: unknown instance ${instanceId}`);
      this.beginTermination(instance);
    });
  }

  /**
   * Stops an instance behind the group's back (an operator, a failed host, a scheduled event):
   * `stopping` now, `stopped` after `timing.instanceTerminateMs`; its volumes and ENIs stay
   * attached (Amazon EC2 User Guide, "Stop and start Amazon EC2 instances": EBS volumes remain
   * attached). Auto Scaling's EC2 health check counts it as unhealthy and replaces it.
   */
  stopInstance(instanceId: string): void {
    return this.mutation(() => {
      this.settle();
      const instance = this.instanceMap.get(instanceId);
      if (!instance) throw new Error(`stopInstance: unknown instance ${instanceId}`);
      if (instance.state !== 'running' && instance.state !== 'pending') return;
      instance.state = 'stopping';
      this.agenda.at(this.now() + this.timing.instanceTerminateMs, () => {
        if (instance.state === 'stopping') instance.state = 'stopped';
      });
    });
  }

  /** A volume that exists already, `available` (seeding, not an API call: no AZ check, no delay). */
  seedVolume(options: {
    availabilityZone: string;
    size?: number;
    volumeType?: LocalVolumeType;
    tags?: Record<string, string>;
    encrypted?: boolean;
  }): string {
    return this.mutation(() => {
      this.settle();
      const volume = this.makeVolume(
        {
          az: options.availabilityZone,
          size: options.size ?? 8,
          volumeType: options.volumeType ?? 'gp3',
          encrypted: options.encrypted ?? false,
          tags: new Map(Object.entries(options.tags ?? {})),
        },
        'available',
      );
      this.hooks.volumeCreated?.(this.volumeView(volume));
      return volume.id;
    });
  }

  /** An `available` ENI in a subnet. */
  seedNetworkInterface(options: {
    subnetId: string;
    privateIp?: string;
    tags?: Record<string, string>;
    description?: string;
  }): string {
    return this.mutation(() => {
      this.settle();
      const subnet = this.subnets.get(options.subnetId);
      if (!subnet) throw new Error(`seedNetworkInterface: unknown subnet ${options.subnetId}`);
      return this.makeEni(
        subnet,
        options.privateIp,
        options.description ?? '',
        new Map(Object.entries(options.tags ?? {})),
      ).id;
    });
  }

  // -------------------------------------------------------------------------------------------
  // Read-only views
  // -------------------------------------------------------------------------------------------

  instance(instanceId: string): LocalInstance | undefined {
    this.settle();
    const instance = this.instanceMap.get(instanceId);
    return instance && this.instanceView(instance);
  }

  /** Just the state of an instance (no view built): for models that poll every instance. */
  instanceState(instanceId: string): LocalInstanceState | undefined {
    this.settle();
    return this.instanceMap.get(instanceId)?.state;
  }

  volume(volumeId: string): LocalVolume | undefined {
    this.settle();
    const volume = this.volumeMap.get(volumeId);
    return volume && this.volumeView(volume);
  }

  networkInterface(id: string): LocalNetworkInterface | undefined {
    this.settle();
    const eni = this.eniMap.get(id);
    return eni && this.eniView(eni);
  }

  volumes(): LocalVolume[] {
    this.settle();
    return [...this.volumeMap.values()].map((v) => this.volumeView(v));
  }

  networkInterfaces(): LocalNetworkInterface[] {
    this.settle();
    return [...this.eniMap.values()].map((e) => this.eniView(e));
  }

  instances(): LocalInstance[] {
    this.settle();
    return [...this.instanceMap.values()].map((i) => this.instanceView(i));
  }

  // -------------------------------------------------------------------------------------------
  // The API
  // -------------------------------------------------------------------------------------------

  /**
   * A read another model makes of EC2's state (Auto Scaling's subnet AZs, SSM's launch times):
   * answered like `handle`, without taking a request token, since it is no request of the account.
   */
  peek(operation: string, input: Record<string, unknown>): unknown {
    if (!operation.startsWith('Describe')) throw new Error(`peek is for reads, not ${operation}`);
    this.settle();
    return this.dispatch(operation, input);
  }

  handle(operation: string, input: Record<string, unknown>): unknown {
    this.settle();
    if (this.requestBuckets) this.takeToken(operation, input, this.requestBuckets);
    // Describe* calls change nothing; every other call may.
    if (operation.startsWith('Describe')) return this.dispatch(operation, input);
    return this.mutation(() => this.dispatch(operation, input));
  }

  private dispatch(operation: string, input: Record<string, unknown>): unknown {
    if (input.DryRun === true) {
      // "Checks whether you have the required permissions for the action, without actually making
      // the request": the local cloud grants every permission, so DryRun always answers this.
      throw fail('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }
    switch (operation) {
      case 'DescribeAvailabilityZones':
        return this.describeAvailabilityZones(input as Partial<DescribeAvailabilityZonesRequest>);
      case 'DescribeSubnets':
        return this.describeSubnets(input as Partial<DescribeSubnetsRequest>);
      case 'DescribeInstances':
        return this.describeInstances(input as Partial<DescribeInstancesRequest>);
      case 'DescribeInstanceTypes':
        return this.describeInstanceTypes(input as Partial<DescribeInstanceTypesRequest>);
      case 'ModifyInstanceAttribute':
        return this.modifyInstanceAttribute(input as Partial<ModifyInstanceAttributeRequest>);
      case 'TerminateInstances':
        return this.terminateInstances(input as Partial<TerminateInstancesRequest>);
      case 'CreateVolume':
        return this.createVolume(input as Partial<CreateVolumeRequest>);
      case 'DescribeVolumes':
        return this.describeVolumes(input as Partial<DescribeVolumesRequest>);
      case 'AttachVolume':
        return this.attachVolume(input as Partial<AttachVolumeRequest>);
      case 'DetachVolume':
        return this.detachVolume(input as Partial<DetachVolumeRequest>);
      case 'DeleteVolume':
        return this.deleteVolume(input as Partial<DeleteVolumeRequest>);
      case 'ModifyVolume':
        return this.modifyVolume(input as Partial<ModifyVolumeRequest>);
      case 'DescribeVolumesModifications':
        return this.describeVolumesModifications(input as Partial<DescribeVolumesModificationsRequest>);
      case 'CreateNetworkInterface':
        return this.createNetworkInterface(input as Partial<CreateNetworkInterfaceRequest>);
      case 'DescribeNetworkInterfaces':
        return this.describeNetworkInterfaces(input as Partial<DescribeNetworkInterfacesRequest>);
      case 'AttachNetworkInterface':
        return this.attachNetworkInterface(input as Partial<AttachNetworkInterfaceRequest>);
      case 'DetachNetworkInterface':
        return this.detachNetworkInterface(input as Partial<DetachNetworkInterfaceRequest>);
      case 'ModifyNetworkInterfaceAttribute':
        return this.modifyNetworkInterfaceAttribute(input as Partial<ModifyNetworkInterfaceAttributeRequest>);
      case 'DeleteNetworkInterface':
        return this.deleteNetworkInterface(input as Partial<DeleteNetworkInterfaceRequest>);
      case 'CreateTags':
        return this.createTags(input as Partial<CreateTagsRequest>);
      case 'DeleteTags':
        return this.deleteTags(input as Partial<DeleteTagsRequest>);
      default:
        return unknownOperation('ec2', operation);
    }
  }

  // --- network ---------------------------------------------------------------------------------

  private describeAvailabilityZones(input: Partial<DescribeAvailabilityZonesRequest>): {
    AvailabilityZones: AvailabilityZone[];
  } {
    const names = input.ZoneNames?.length ? input.ZoneNames : undefined; // [] is sent as nothing
    const zones = [...this.azs.entries()]
      .filter(([name]) => !names || names.includes(name))
      .map(([name, id]) => ({
        ZoneName: name,
        ZoneId: id,
        State: 'available' as const,
        RegionName: this.cloud.region,
        ZoneType: 'availability-zone',
        OptInStatus: 'opt-in-not-required' as const,
      }));
    for (const name of names ?? []) {
      if (!this.azs.has(name)) {
        throw fail('InvalidParameterValue', `Invalid availability zone: [${name}]`);
      }
    }
    return { AvailabilityZones: zones };
  }

  private describeSubnets(input: Partial<DescribeSubnetsRequest>): { Subnets: Subnet[]; NextToken?: string } {
    const ids = input.SubnetIds?.length ? input.SubnetIds : undefined; // [] is sent as nothing
    for (const id of ids ?? []) {
      if (!this.subnets.has(id))
        throw fail('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`);
    }
    const match = compileFilters<SubnetRec>(input.Filters, {
      operation: 'DescribeSubnets',
      fields: {
        'subnet-id': (s) => s.id,
        'vpc-id': (s) => s.vpcId,
        'availability-zone': (s) => s.az,
        'availability-zone-id': (s) => s.azId,
        'cidr-block': (s) => s.cidr,
        state: () => 'available',
      },
      tags: () => new Map(),
    });
    const candidates = ids
      ? ids.map((id) => this.subnets.get(id)).filter(isDefined)
      : [...this.subnets.values()];
    const { page, nextToken } = paginate(candidates.filter(match), input.MaxResults, input.NextToken, {
      min: 5,
      max: 1000,
    });
    return {
      Subnets: page.map((s) => ({
        SubnetId: s.id,
        VpcId: s.vpcId,
        AvailabilityZone: s.az,
        AvailabilityZoneId: s.azId,
        CidrBlock: s.cidr,
        State: 'available',
        AvailableIpAddressCount: s.size - 5 - s.used.size,
        OwnerId: this.cloud.account,
      })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  // --- instances -------------------------------------------------------------------------------

  private describeInstances(input: Partial<DescribeInstancesRequest>): {
    Reservations: { ReservationId: string; OwnerId: string; Groups: []; Instances: Instance[] }[];
    NextToken?: string;
  } {
    const ids = input.InstanceIds;
    // "You cannot specify this parameter and the instance IDs parameter in the same request."
    // (MaxResults, https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html)
    if (ids && ids.length > 0 && input.MaxResults !== undefined) {
      throw fail(
        'InvalidParameterCombination',
        'The parameter instancesSet cannot be used with the parameter maxResults',
      );
    }
    const candidates = ids && ids.length > 0 ? this.lookupInstances(ids) : [...this.instanceMap.values()];
    const match = compileFilters(input.Filters, INSTANCE_FILTERS);
    const { page, nextToken } = paginate(candidates.filter(match), input.MaxResults, input.NextToken, {
      min: 5,
      max: 1000,
    });
    return {
      Reservations: page.map((i) => ({
        ReservationId: i.reservationId,
        OwnerId: this.cloud.account,
        Groups: [],
        Instances: [this.instanceOut(i)],
      })),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  private lookupInstances(ids: readonly string[]): InstanceRec[] {
    const missing: string[] = [];
    const found: InstanceRec[] = [];
    for (const id of ids) {
      this.checkInstanceId(id);
      const instance = this.instanceMap.get(id);
      if (instance) found.push(instance);
      else missing.push(id);
    }
    if (missing.length === 1)
      throw fail('InvalidInstanceID.NotFound', `The instance ID '${missing[0]}' does not exist`);
    if (missing.length > 1)
      throw fail('InvalidInstanceID.NotFound', `The instance IDs '${missing.join(', ')}' do not exist`);
    return found;
  }

  private describeInstanceTypes(input: Partial<DescribeInstanceTypesRequest>): {
    InstanceTypes: InstanceTypeInfo[];
  } {
    // An empty list is sent as nothing: all types.
    const names = input.InstanceTypes?.length ? input.InstanceTypes : Object.keys(this.instanceTypes);
    const unknown = names.filter((n) => !this.instanceTypes[n]);
    if (unknown.length > 0) {
      throw fail(
        'InvalidInstanceType',
        `The following supplied instance types do not exist: [${unknown.join(', ')}]`,
      );
    }
    return {
      InstanceTypes: names.map((name) => {
        const t = this.instanceTypes[name] as LocalInstanceType;
        return {
          InstanceType: name as InstanceTypeInfo['InstanceType'],
          CurrentGeneration: true,
          VCpuInfo: { DefaultVCpus: t.vcpus },
          MemoryInfo: { SizeInMiB: t.memoryMiB },
          ProcessorInfo: { SupportedArchitectures: [t.architecture] },
          Hypervisor: 'nitro',
          EbsInfo: {
            EbsOptimizedSupport: 'default',
            EncryptionSupport: 'supported',
            NvmeSupport: 'required',
            MaximumEbsAttachments: t.maximumEbsAttachments,
            AttachmentLimitType: t.attachmentLimitType,
          },
          NetworkInfo: {
            MaximumNetworkInterfaces: t.maximumNetworkInterfaces,
            MaximumNetworkCards: 1,
            DefaultNetworkCardIndex: 0,
          },
        };
      }),
    };
  }

  /**
   * Only `BlockDeviceMappings[].Ebs.DeleteOnTermination` is modelled ("To change the
   * DeleteOnTermination attribute of a volume attached to a running instance…",
   * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyInstanceAttribute.html).
   */
  private modifyInstanceAttribute(input: Partial<ModifyInstanceAttributeRequest>): Record<string, never> {
    const instance = this.requireInstance(input.InstanceId);
    const mappings = input.BlockDeviceMappings;
    if (!mappings || mappings.length === 0) {
      throw fail(
        'UnsupportedOperation',
        'The local cloud models only BlockDeviceMappings in ModifyInstanceAttribute',
      );
    }
    const changes: [VolAttach, boolean][] = [];
    for (const mapping of mappings) {
      const device = mapping.DeviceName;
      if (!device)
        throw fail(
          'MissingParameter',
          'The request must contain the parameter blockDeviceMapping.deviceName',
        );
      const volume = instance.devices.get(device);
      if (!volume?.attachment) {
        throw fail('InvalidInstanceAttributeValue', `No device is currently mapped at ${device}`);
      }
      if (mapping.Ebs?.VolumeId !== undefined && mapping.Ebs.VolumeId !== volume.id) {
        throw fail('InvalidParameterValue', `Volume ${mapping.Ebs.VolumeId} is not mapped at ${device}`);
      }
      if (mapping.Ebs?.DeleteOnTermination !== undefined)
        changes.push([volume.attachment, mapping.Ebs.DeleteOnTermination]);
    }
    for (const [attachment, value] of changes) attachment.deleteOnTermination = value;
    return {};
  }

  private terminateInstances(input: Partial<TerminateInstancesRequest>): {
    TerminatingInstances: {
      InstanceId: string;
      CurrentState: { Code: number; Name: LocalInstanceState };
      PreviousState: { Code: number; Name: LocalInstanceState };
    }[];
  } {
    const ids = input.InstanceIds ?? [];
    if (ids.length === 0) throw fail('MissingParameter', 'The request must contain the parameter InstanceId');
    const instances = this.lookupInstances(ids);
    return {
      TerminatingInstances: instances.map((instance) => {
        const previous = instance.state;
        this.beginTermination(instance);
        return {
          InstanceId: instance.id,
          CurrentState: { Code: STATE_CODES[instance.state], Name: instance.state },
          PreviousState: { Code: STATE_CODES[previous], Name: previous },
        };
      }),
    };
  }

  private beginTermination(instance: InstanceRec): void {
    if (instance.state === 'shutting-down' || instance.state === 'terminated') return;
    instance.state = 'shutting-down';
    instance.transitionReason = `User initiated (${new Date(this.now())
      .toISOString()
      .replace(/\.\d{3}Z$/, ' GMT')
      .replace('T', ' ')})`;
    this.agenda.at(this.now() + this.timing.instanceTerminateMs, (due) =>
      this.finishTermination(instance, due),
    );
  }

  private finishTermination(instance: InstanceRec, at: number): void {
    instance.state = 'terminated';
    for (const volume of [...instance.devices.values()]) {
      const attachment = volume.attachment;
      instance.devices.delete(attachment?.device ?? '');
      if (!attachment || attachment.instance !== instance) continue;
      volume.attachment = undefined;
      if (attachment.deleteOnTermination) {
        if (attachment.device !== '/dev/xvda')
          this.hooks.volumeDeleted?.(this.volumeView(volume), 'DeleteOnTermination');
        volume.state = 'deleted';
        this.volumeMap.delete(volume.id);
      } else {
        volume.state = 'available';
      }
    }
    instance.devices.clear();
    for (const eni of [...instance.enis.values()]) {
      const attachment = eni.attachment;
      if (attachment) this.eniByAttachment.delete(attachment.attachmentId);
      eni.attachment = undefined;
      eni.status = 'available';
      if (attachment?.deleteOnTermination) this.removeEni(eni);
    }
    instance.enis.clear();
    this.agenda.at(at + 3600_000, () => {
      if (this.instanceMap.get(instance.id) === instance) this.instanceMap.delete(instance.id);
    });
  }

  // --- volumes ---------------------------------------------------------------------------------

  /**
   * CreateVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateVolume.html).
   * Idempotency ("Ensuring idempotency", https://docs.aws.amazon.com/ec2/latest/devguide/ec2-api-idempotency.html):
   * a retried request with the same ClientToken and the same parameters returns the same volume;
   * the same token with other parameters fails with IdempotentParameterMismatch; a token is at
   * most 64 ASCII characters.
   */
  private createVolume(input: Partial<CreateVolumeRequest>): Volume {
    const token = input.ClientToken;
    let fingerprint = '';
    if (token !== undefined) {
      if (token.length > 64 || !/^[\x20-\x7e]*$/.test(token)) {
        throw fail(
          'InvalidParameterValue',
          `Value (${token}) for parameter clientToken is invalid. The client token must be at most 64 ASCII characters.`,
        );
      }
      const { ClientToken: _t, DryRun: _d, ...rest } = input;
      fingerprint = stableStringify(rest);
      const previous = this.clientTokens.get(token);
      if (previous) {
        if (previous.fingerprint !== fingerprint) {
          throw fail(
            'IdempotentParameterMismatch',
            `Client token '${token}' was already used with different parameters.`,
          );
        }
        const volume = this.volumeMap.get(previous.volumeId);
        if (volume) return this.volumeOut(volume);
        // The volume was deleted since: AWS still answers with it, as it was.
        return { VolumeId: previous.volumeId, State: 'deleted' };
      }
    }
    const az = input.AvailabilityZone;
    if (!az) {
      if (input.AvailabilityZoneId)
        throw fail(
          'UnsupportedOperation',
          'The local cloud expects AvailabilityZone, not AvailabilityZoneId',
        );
      throw fail('MissingParameter', 'The request must contain the parameter AvailabilityZone');
    }
    if (!this.azs.has(az)) {
      throw fail('InvalidParameterValue', `Invalid availability zone: [${az}]`);
    }
    const volumeType = (input.VolumeType ?? 'gp2') as LocalVolumeType; // "Default: gp2"
    if (!VOLUME_BOUNDS[volumeType]) {
      throw fail(
        'InvalidParameterValue',
        `Value (${String(input.VolumeType)}) for parameter volumeType is invalid.`,
      );
    }
    if (input.Size === undefined && input.SnapshotId === undefined) {
      throw fail('MissingParameter', 'The request must contain the parameter size or snapshotId');
    }
    if (input.SnapshotId !== undefined && !/^snap-([0-9a-f]{8}|[0-9a-f]{17})$/.test(input.SnapshotId)) {
      throw fail('InvalidSnapshotID.Malformed', `Invalid id: "${input.SnapshotId}" (expecting "snap-...")`);
    }
    if (input.SnapshotId !== undefined && input.Size === undefined) {
      throw fail('InvalidSnapshot.NotFound', `The snapshot '${input.SnapshotId}' does not exist.`);
    }
    const size = input.Size ?? 0;
    const performance = this.checkVolumeConfig(volumeType, size, input.Iops, input.Throughput);
    if (input.KmsKeyId !== undefined && input.Encrypted !== true) {
      throw fail(
        'InvalidParameterDependency',
        'The parameter KmsKeyId requires the parameter Encrypted to be set.',
      );
    }
    const tags = this.tagsFromSpecifications(input.TagSpecifications, 'volume');
    const volume = this.makeVolume(
      {
        az,
        size,
        volumeType,
        encrypted: input.Encrypted ?? false,
        kmsKeyId: input.Encrypted
          ? (input.KmsKeyId ??
            `arn:aws:kms:${this.cloud.region}:${this.cloud.account}:key/local-cloud-default-ebs-key`)
          : undefined,
        snapshotId: input.SnapshotId,
        tags,
        ...performance,
      },
      'creating',
    );
    this.agenda.at(this.now() + this.timing.createVolumeMs, () => {
      if (volume.state === 'creating') volume.state = 'available';
    });
    if (token !== undefined) this.clientTokens.set(token, { fingerprint, volumeId: volume.id });
    if (this.timing.consistencyMs > 0) volume.visibleAt = this.now() + this.timing.consistencyMs;
    this.hooks.volumeCreated?.(this.volumeView(volume));
    return this.volumeOut(volume);
  }

  /** Checks size/IOPS/throughput against the type's documented bounds; returns the effective values. */
  private checkVolumeConfig(
    type: LocalVolumeType,
    size: number,
    iops: number | undefined,
    throughput: number | undefined,
  ): { iops?: number; throughput?: number } {
    const bounds = VOLUME_BOUNDS[type];
    if (!Number.isInteger(size) || size < bounds.minSize || size > bounds.maxSize) {
      throw fail(
        'InvalidParameterValue',
        `Volume of ${size}GiB is out of range for volume type ${type}; the size must be between ${bounds.minSize} and ${bounds.maxSize} GiB.`,
      );
    }
    const result: { iops?: number; throughput?: number } = {};
    if (bounds.iops) {
      if (iops === undefined && bounds.iops.required) {
        throw fail('MissingParameter', `The parameter iops must be specified for ${type} volumes.`);
      }
      const value = iops ?? bounds.iops.min;
      if (value < bounds.iops.min || value > bounds.iops.max) {
        throw fail(
          'InvalidParameterValue',
          `Value (${value}) for parameter iops is invalid. Expected a value between ${bounds.iops.min} and ${bounds.iops.max} for ${type} volumes.`,
        );
      }
      if (iops !== undefined && iops > size * bounds.iops.perGiB) {
        throw fail(
          'InvalidParameterValue',
          `Iops to volume size ratio of ${(iops / size).toFixed(1)} is too high; maximum is ${bounds.iops.perGiB}.`,
        );
      }
      result.iops = value;
    } else if (iops !== undefined) {
      throw fail('InvalidParameterCombination', `The parameter iops is not supported for ${type} volumes.`);
    } else if (type === 'gp2') {
      // gp2 baseline: 3 IOPS per GiB, between 100 and 16,000 (Amazon EBS User Guide, gp2 volumes).
      result.iops = Math.min(16000, Math.max(100, 3 * size));
    }
    if (type === 'gp3') {
      const value = throughput ?? GP3_THROUGHPUT.min;
      if (value < GP3_THROUGHPUT.min || value > GP3_THROUGHPUT.max) {
        throw fail(
          'InvalidParameterValue',
          `Value (${value}) for parameter throughput is invalid. Expected a value between ${GP3_THROUGHPUT.min} and ${GP3_THROUGHPUT.max}.`,
        );
      }
      if (throughput !== undefined && throughput > (result.iops ?? 3000) * GP3_THROUGHPUT.perIops) {
        throw fail(
          'InvalidParameterValue',
          `Throughput (MiBps) to iops ratio of ${(throughput / (result.iops ?? 3000)).toFixed(3)} is too high; maximum is ${GP3_THROUGHPUT.perIops} MiBps per iops.`,
        );
      }
      result.throughput = value;
    } else if (throughput !== undefined) {
      throw fail(
        'InvalidParameterCombination',
        `The parameter throughput is not supported for ${type} volumes.`,
      );
    }
    return result;
  }

  /**
   * DescribeVolumes (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html):
   * MaxResults "can be between 5 and 500; if the value is larger than 500, only 500 items are
   * returned", and cannot be combined with VolumeIds.
   */
  private describeVolumes(input: Partial<DescribeVolumesRequest>): { Volumes: Volume[]; NextToken?: string } {
    const ids = input.VolumeIds;
    if (ids && ids.length > 0 && input.MaxResults !== undefined) {
      throw fail(
        'InvalidParameterCombination',
        'The parameter volumeSet cannot be used with the parameter maxResults',
      );
    }
    const candidates = ids && ids.length > 0 ? this.lookupVolumes(ids) : [...this.volumeMap.values()];
    const match = compileFilters(input.Filters, VOLUME_FILTERS);
    const maxResults = input.MaxResults === undefined ? undefined : Math.min(500, input.MaxResults);
    const now = this.now();
    const found = candidates.filter((v) => (v.visibleAt === undefined || v.visibleAt <= now) && match(v));
    const { page, nextToken } = paginate(found, maxResults, input.NextToken, {
      min: 5,
      max: 500,
    });
    return { Volumes: page.map((v) => this.volumeOut(v)), ...(nextToken ? { NextToken: nextToken } : {}) };
  }

  private lookupVolumes(ids: readonly string[]): VolumeRec[] {
    const missing: string[] = [];
    const found: VolumeRec[] = [];
    for (const id of ids) {
      this.checkVolumeId(id);
      const volume = this.volumeMap.get(id);
      if (volume && !this.hidden(volume)) found.push(volume);
      else missing.push(id);
    }
    if (missing.length === 1)
      throw fail('InvalidVolume.NotFound', `The volume '${missing[0]}' does not exist.`);
    if (missing.length > 1)
      throw fail('InvalidVolume.NotFound', `The volumes '${missing.join(', ')}' do not exist.`);
    return found;
  }

  /**
   * AttachVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachVolume.html):
   * the volume must be `available` (else VolumeInUse when attached, IncorrectState otherwise) and
   * in the instance's AZ (InvalidVolume.ZoneMismatch); the instance must be `running` (or stopped,
   * not modelled); the device name must be valid and free; the instance type's attachment limit
   * applies (AttachmentLimitExceeded).
   */
  private attachVolume(input: Partial<AttachVolumeRequest>): VolumeAttachment {
    const device = required(input.Device, 'Device');
    const instance = this.requireInstance(input.InstanceId);
    const volume = this.requireVolume(input.VolumeId);
    if (volume.attachment) {
      throw fail('VolumeInUse', `${volume.id} is already attached to an instance`);
    }
    if (volume.state !== 'available') {
      throw fail('IncorrectState', `${volume.id} is not 'available'.`);
    }
    if (instance.state !== 'running') {
      throw fail('IncorrectState', `Instance '${instance.id}' is not 'running'.`);
    }
    if (volume.az !== instance.subnet.az) {
      throw fail(
        'InvalidVolume.ZoneMismatch',
        `The volume '${volume.id}' is not in the same availability zone as instance '${instance.id}'`,
      );
    }
    if (!DEVICE_NAME.test(device)) {
      throw fail(
        'InvalidParameterValue',
        `Value (${device}) for parameter device is invalid. ${device} is not a valid EBS device name.`,
      );
    }
    // A name in use (or just released) is InvalidParameterValue ("Error codes for the Amazon EC2
    // API", https://docs.aws.amazon.com/AWSEC2/latest/APIReference/errors-overview.html), checked
    // after the volume's own state, so a volume already attached answers VolumeInUse first.
    // Real message: "Invalid value '/dev/sdh' for unixDevice. Attachment point /dev/sdh is already in use".
    if (instance.devices.has(device) || (instance.heldDevices.get(device) ?? 0) > this.now()) {
      throw fail(
        'InvalidParameterValue',
        `Invalid value '${device}' for unixDevice. Attachment point ${device} is already in use`,
      );
    }
    const type = this.instanceTypes[instance.instanceType] as LocalInstanceType;
    const used =
      type.attachmentLimitType === 'shared'
        ? instance.devices.size + instance.enis.size
        : instance.devices.size;
    if (used + 1 > type.maximumEbsAttachments) {
      throw fail(
        'AttachmentLimitExceeded',
        `Instance '${instance.id}' has reached its limit of ${type.maximumEbsAttachments} attachments for type ${instance.instanceType}.`,
      );
    }
    const now = this.now();
    const attachment: VolAttach = {
      instance,
      device,
      state: 'attaching',
      attachTime: now,
      deleteOnTermination: false,
    };
    volume.attachment = attachment;
    volume.state = 'in-use';
    instance.devices.set(device, volume);
    const stuck =
      this.stickNextAttachments > 0 ||
      (this.stuckAttachRate > 0 && this.cloud.random.chance(this.stuckAttachRate));
    if (this.stickNextAttachments > 0) this.stickNextAttachments--;
    if (stuck) {
      attachment.stuck = true;
      this.stuckAttachments.push(volume.id);
    } else {
      this.agenda.at(now + this.timing.attachMs, () => {
        if (volume.attachment === attachment && attachment.state === 'attaching')
          attachment.state = 'attached';
      });
    }
    return this.attachmentOut(volume, attachment);
  }

  /**
   * DetachVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DetachVolume.html):
   * a volume that is not attached answers IncorrectState; an InstanceId or Device that does not
   * match the attachment answers InvalidAttachment.NotFound ("an attempt to detach a volume from
   * an instance to which it is not attached", errors-overview).
   */
  private detachVolume(input: Partial<DetachVolumeRequest>): VolumeAttachment {
    const volume = this.requireVolume(input.VolumeId);
    if (input.InstanceId !== undefined) this.requireInstance(input.InstanceId);
    const attachment = volume.attachment;
    if (!attachment) {
      throw fail('IncorrectState', `Volume '${volume.id}' is in the '${volume.state}' state.`);
    }
    if (
      (input.InstanceId !== undefined && input.InstanceId !== attachment.instance.id) ||
      (input.Device !== undefined && input.Device !== attachment.device)
    ) {
      throw fail(
        'InvalidAttachment.NotFound',
        `The volume '${volume.id}' is not attached to instance '${input.InstanceId ?? attachment.instance.id}' at ${input.Device ?? attachment.device}.`,
      );
    }
    if (attachment.device === '/dev/xvda' && attachment.instance.state !== 'terminated') {
      // "You can't detach the root volume of an instance that is running; stop it first"
      // (Amazon EBS User Guide, "Detach an Amazon EBS volume"); stopping is not modelled.
      throw fail(
        'OperationNotPermitted',
        `The volume '${volume.id}' is the root device of instance '${attachment.instance.id}' and cannot be detached while it is running.`,
      );
    }
    if (attachment.stuck && input.Force !== true) {
      // Stuck in `attaching`: only a forced detach releases it (see stuckAttachRate).
      return this.attachmentOut(volume, attachment);
    }
    if (attachment.state !== 'detaching') {
      attachment.state = 'detaching';
      // Force detaches at once in effect, but still through `detaching`; the delay is the same.
      this.agenda.at(this.now() + this.timing.detachMs, (due) => this.finishDetach(volume, attachment, due));
    }
    return this.attachmentOut(volume, attachment);
  }

  private finishDetach(volume: VolumeRec, attachment: VolAttach, at: number): void {
    if (volume.attachment !== attachment || attachment.state !== 'detaching') return;
    attachment.state = 'detached';
    volume.attachment = undefined;
    const instance = attachment.instance;
    if (instance.devices.get(attachment.device) === volume) instance.devices.delete(attachment.device);
    if (this.timing.deviceReleaseMs > 0) {
      instance.heldDevices.set(attachment.device, at + this.timing.deviceReleaseMs);
    }
    if (volume.state === 'in-use') volume.state = 'available';
  }

  /** DeleteVolume: only an `available` volume ("The volume must be in the available state (not attached to an instance)"). */
  private deleteVolume(input: Partial<DeleteVolumeRequest>): Record<string, never> {
    const volume = this.requireVolume(input.VolumeId);
    if (volume.attachment || volume.state === 'in-use') {
      throw fail(
        'VolumeInUse',
        `Volume ${volume.id} is currently attached to ${volume.attachment?.instance.id ?? 'an instance'}`,
      );
    }
    if (volume.state === 'deleting') return {};
    if (volume.state !== 'available') {
      throw fail('IncorrectState', `The volume '${volume.id}' is in the '${volume.state}' state.`);
    }
    volume.state = 'deleting';
    this.hooks.volumeDeleted?.(this.volumeView(volume), 'DeleteVolume');
    this.agenda.at(this.now() + this.timing.deleteVolumeMs, () => {
      volume.state = 'deleted';
      this.volumeMap.delete(volume.id);
    });
    return {};
  }

  /**
   * ModifyVolume (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyVolume.html,
   * "Requirements for EBS volume modifications" and "Monitor the progress of volume modifications"
   * in the Amazon EBS User Guide): only after the previous modification completed
   * (IncorrectModificationState), at most 4 per rolling 24 h (or, under the older rule, one per
   * 6 h) (VolumeModificationRateExceeded); a size can only grow. States modifying → optimizing →
   * completed. DescribeVolumes shows the target size as soon as the request is accepted; the
   * size "takes effect once the volume modification reaches the optimizing state", which is when
   * `hooks.volumeModified` fires (the demo grows its loop device then).
   */
  private modifyVolume(input: Partial<ModifyVolumeRequest>): { VolumeModification: VolumeModification } {
    const volume = this.requireVolume(input.VolumeId);
    if (volume.state !== 'available' && volume.state !== 'in-use') {
      throw fail(
        'IncorrectState',
        `Volume ${volume.id} must be in the available or in-use state to be modified.`,
      );
    }
    const last = volume.modifications[volume.modifications.length - 1];
    if (last && last.state !== 'completed') {
      throw fail(
        'IncorrectModificationState',
        `Volume ${volume.id} cannot be modified in modification state ${last.state.toUpperCase()}`,
      );
    }
    const now = this.now();
    if (this.modificationRule === 'four-per-24h') {
      const recent = volume.modifications.filter((m) => m.startTime > now - 24 * 3600_000).length;
      if (recent >= 4) {
        throw fail(
          'VolumeModificationRateExceeded',
          `You've reached the maximum modification rate per volume limit. Wait until fewer than 4 modifications of ${volume.id} started in the last 24 hours.`,
        );
      }
    } else if (last && last.startTime > now - 6 * 3600_000) {
      throw fail(
        'VolumeModificationRateExceeded',
        `You've reached the maximum modification rate per volume limit. Wait at least 6 hours between modifications per EBS volume.`,
      );
    }
    if (
      input.Size === undefined &&
      input.VolumeType === undefined &&
      input.Iops === undefined &&
      input.Throughput === undefined &&
      input.MultiAttachEnabled === undefined
    ) {
      throw fail('MissingParameter', 'At least one of Size, VolumeType, Iops, Throughput must be specified.');
    }
    const targetType = (input.VolumeType ?? volume.volumeType) as LocalVolumeType;
    if (!VOLUME_BOUNDS[targetType]) {
      throw fail(
        'InvalidParameterValue',
        `Value (${String(input.VolumeType)}) for parameter volumeType is invalid.`,
      );
    }
    const targetSize = input.Size ?? volume.size;
    if (targetSize < volume.size) {
      throw fail(
        'InvalidParameterValue',
        `New size (${targetSize}) cannot be smaller than existing size (${volume.size}).`,
      );
    }
    const keepIops =
      targetType === volume.volumeType && VOLUME_BOUNDS[targetType].iops ? volume.iops : undefined;
    const keepThroughput =
      targetType === 'gp3' && volume.volumeType === 'gp3' ? volume.throughput : undefined;
    const performance = this.checkVolumeConfig(
      targetType,
      targetSize,
      input.Iops ?? keepIops,
      input.Throughput ?? keepThroughput,
    );
    if (
      targetSize === volume.size &&
      targetType === volume.volumeType &&
      performance.iops === volume.iops &&
      performance.throughput === volume.throughput
    ) {
      throw fail(
        'InvalidParameterValue',
        `The requested modification of ${volume.id} does not change its configuration.`,
      );
    }
    const modification: ModRec = {
      state: 'modifying',
      startTime: now,
      originalSize: volume.size,
      targetSize,
      originalType: volume.volumeType,
      targetType,
      originalIops: volume.iops,
      targetIops: performance.iops,
      originalThroughput: volume.throughput,
      targetThroughput: performance.throughput,
    };
    volume.modifications.push(modification);
    volume.size = targetSize;
    volume.volumeType = targetType;
    volume.iops = performance.iops;
    volume.throughput = performance.throughput;
    this.agenda.at(now + this.timing.modifyingMs, (due) => {
      modification.state = 'optimizing';
      if (targetSize > modification.originalSize && this.volumeMap.get(volume.id) === volume) {
        this.hooks.volumeModified?.(this.volumeView(volume), targetSize);
      }
      this.agenda.at(due + this.timing.optimizingMs, (end) => {
        modification.state = 'completed';
        modification.endTime = end;
      });
    });
    return { VolumeModification: this.modificationOut(volume.id, modification) };
  }

  /** "Describes the most recent volume modification request for the specified EBS volumes." */
  private describeVolumesModifications(input: Partial<DescribeVolumesModificationsRequest>): {
    VolumesModifications: VolumeModification[];
    NextToken?: string;
  } {
    const ids = input.VolumeIds;
    const volumes = ids && ids.length > 0 ? this.lookupVolumes(ids) : [...this.volumeMap.values()];
    const rows: { volumeId: string; modification: ModRec }[] = [];
    for (const volume of volumes) {
      const last = volume.modifications[volume.modifications.length - 1];
      if (last) rows.push({ volumeId: volume.id, modification: last });
      else if (ids && ids.length > 0) {
        throw fail(
          'InvalidVolumeModification.NotFound',
          `Modification for volume '${volume.id}' does not exist.`,
        );
      }
    }
    const match = compileFilters<{ volumeId: string; modification: ModRec }>(input.Filters, {
      operation: 'DescribeVolumesModifications',
      fields: {
        'volume-id': (r) => r.volumeId,
        'modification-state': (r) => r.modification.state,
        'original-size': (r) => r.modification.originalSize,
        'target-size': (r) => r.modification.targetSize,
        'original-volume-type': (r) => r.modification.originalType,
        'target-volume-type': (r) => r.modification.targetType,
        'original-iops': (r) => r.modification.originalIops,
        'target-iops': (r) => r.modification.targetIops,
        'start-time': (r) => new Date(r.modification.startTime).toISOString(),
      },
    });
    const { page, nextToken } = paginate(rows.filter(match), input.MaxResults, input.NextToken, {
      min: 1,
      max: 500,
    });
    return {
      VolumesModifications: page.map((r) => this.modificationOut(r.volumeId, r.modification)),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  // --- network interfaces ---------------------------------------------------------------------

  private createNetworkInterface(input: Partial<CreateNetworkInterfaceRequest>): {
    NetworkInterface: NetworkInterface;
  } {
    const subnetId = required(input.SubnetId, 'SubnetId');
    const subnet = this.subnets.get(subnetId);
    if (!subnet) throw fail('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
    const tags = this.tagsFromSpecifications(input.TagSpecifications, 'network-interface');
    const eni = this.makeEni(subnet, input.PrivateIpAddress, input.Description ?? '', tags);
    if (this.timing.consistencyMs > 0) eni.visibleAt = this.now() + this.timing.consistencyMs;
    return { NetworkInterface: this.eniOut(eni) };
  }

  /**
   * DescribeNetworkInterfaces (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeNetworkInterfaces.html):
   * MaxResults 5–1000, not together with NetworkInterfaceIds.
   */
  private describeNetworkInterfaces(input: Partial<DescribeNetworkInterfacesRequest>): {
    NetworkInterfaces: NetworkInterface[];
    NextToken?: string;
  } {
    const ids = input.NetworkInterfaceIds;
    if (ids && ids.length > 0 && input.MaxResults !== undefined) {
      throw fail(
        'InvalidParameterCombination',
        'The parameter NetworkInterfaceIds cannot be used with the parameter maxResults',
      );
    }
    let candidates: EniRec[];
    if (ids && ids.length > 0) {
      const missing: string[] = [];
      candidates = [];
      for (const id of ids) {
        this.checkEniId(id);
        const eni = this.eniMap.get(id);
        if (eni && !this.hidden(eni)) candidates.push(eni);
        else missing.push(id);
      }
      if (missing.length > 0) {
        throw fail(
          'InvalidNetworkInterfaceID.NotFound',
          `The networkInterface ID '${missing.join(', ')}' does not exist`,
        );
      }
    } else {
      candidates = [...this.eniMap.values()];
    }
    const match = compileFilters(input.Filters, ENI_FILTERS);
    const now = this.now();
    const found = candidates.filter((e) => (e.visibleAt === undefined || e.visibleAt <= now) && match(e));
    const { page, nextToken } = paginate(found, input.MaxResults, input.NextToken, {
      min: 5,
      max: 1000,
    });
    return {
      NetworkInterfaces: page.map((e) => this.eniOut(e)),
      ...(nextToken ? { NextToken: nextToken } : {}),
    };
  }

  /**
   * AttachNetworkInterface (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_AttachNetworkInterface.html):
   * "You can attach a network interface to an instance in the same Availability Zone" — another AZ
   * answers InvalidParameterCombination; an ENI that is attached answers
   * InvalidNetworkInterface.InUse; a taken device index, InvalidParameterValue; more interfaces
   * than NetworkInfo.MaximumNetworkInterfaces (or, for a shared limit, than the attachments the
   * type allows), AttachmentLimitExceeded.
   */
  private attachNetworkInterface(input: Partial<AttachNetworkInterfaceRequest>): {
    AttachmentId: string;
    NetworkCardIndex: number;
  } {
    const deviceIndex = required(input.DeviceIndex, 'DeviceIndex');
    const instance = this.requireInstance(input.InstanceId);
    const eni = this.requireEni(input.NetworkInterfaceId);
    if (eni.attachment || eni.status !== 'available') {
      throw fail('InvalidNetworkInterface.InUse', `Interface: [${eni.id}] in use.`);
    }
    if (instance.state !== 'running') {
      throw fail('IncorrectState', `Instance '${instance.id}' is not 'running'.`);
    }
    if (eni.subnet.az !== instance.subnet.az) {
      throw fail(
        'InvalidParameterCombination',
        'You may not attach a network interface to an instance if they are not in the same availability zone',
      );
    }
    if (eni.subnet.vpcId !== instance.subnet.vpcId) {
      throw fail(
        'InvalidParameterCombination',
        'You may not attach a network interface to an instance if they are not in the same VPC',
      );
    }
    if (!Number.isInteger(deviceIndex) || deviceIndex < 0) {
      throw fail('InvalidParameterValue', `Value (${deviceIndex}) for parameter deviceIndex is invalid.`);
    }
    if (instance.enis.has(deviceIndex)) {
      throw fail(
        'InvalidParameterValue',
        `Instance '${instance.id}' already has an interface attached at device index '${deviceIndex}'.`,
      );
    }
    const type = this.instanceTypes[instance.instanceType] as LocalInstanceType;
    if (instance.enis.size + 1 > type.maximumNetworkInterfaces) {
      throw fail(
        'AttachmentLimitExceeded',
        `Interface count ${instance.enis.size + 1} exceeds the limit for ${instance.instanceType}`,
      );
    }
    if (
      type.attachmentLimitType === 'shared' &&
      instance.devices.size + instance.enis.size + 1 > type.maximumEbsAttachments
    ) {
      throw fail(
        'AttachmentLimitExceeded',
        `Instance '${instance.id}' has reached its limit of ${type.maximumEbsAttachments} attachments for type ${instance.instanceType}.`,
      );
    }
    const attachment = this.linkEni(eni, instance, deviceIndex, false, 'attaching', this.now());
    this.agenda.at(this.now() + this.timing.attachMs, () => {
      if (eni.attachment === attachment && attachment.state === 'attaching') attachment.state = 'attached';
    });
    return { AttachmentId: attachment.attachmentId, NetworkCardIndex: 0 };
  }

  /**
   * DetachNetworkInterface: an unknown attachment answers InvalidAttachmentID.NotFound; "You can't
   * detach a primary network interface from an instance" (OperationNotPermitted).
   */
  private detachNetworkInterface(input: Partial<DetachNetworkInterfaceRequest>): Record<string, never> {
    const attachmentId = required(input.AttachmentId, 'AttachmentId');
    const eni = this.eniByAttachment.get(attachmentId);
    const attachment = eni?.attachment;
    if (!eni || !attachment || attachment.attachmentId !== attachmentId) {
      throw fail('InvalidAttachmentID.NotFound', `Interface attachment '${attachmentId}' does not exist.`);
    }
    if (attachment.deviceIndex === 0) {
      throw fail('OperationNotPermitted', `The network interface at device index 0 cannot be detached.`);
    }
    if (attachment.state !== 'detaching') {
      attachment.state = 'detaching';
      this.agenda.at(this.now() + this.timing.detachMs, () => {
        if (eni.attachment !== attachment || attachment.state !== 'detaching') return;
        attachment.state = 'detached';
        eni.attachment = undefined;
        eni.status = 'available';
        this.eniByAttachment.delete(attachment.attachmentId);
        if (attachment.instance.enis.get(attachment.deviceIndex) === eni)
          attachment.instance.enis.delete(attachment.deviceIndex);
      });
    }
    return {};
  }

  /**
   * ModifyNetworkInterfaceAttribute: the attachment's DeleteOnTermination (with its AttachmentId,
   * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyNetworkInterfaceAttribute.html)
   * and the description; other attributes are accepted and ignored (security groups are not modelled).
   */
  private modifyNetworkInterfaceAttribute(
    input: Partial<ModifyNetworkInterfaceAttributeRequest>,
  ): Record<string, never> {
    const eni = this.requireEni(input.NetworkInterfaceId);
    const change = input.Attachment;
    if (change) {
      const attachmentId = required(change.AttachmentId, 'Attachment.AttachmentId');
      if (eni.attachment?.attachmentId !== attachmentId) {
        throw fail('InvalidAttachmentID.NotFound', `Interface attachment '${attachmentId}' does not exist.`);
      }
      if (change.DeleteOnTermination !== undefined)
        eni.attachment.deleteOnTermination = change.DeleteOnTermination;
    }
    if (input.Description?.Value !== undefined) eni.description = input.Description.Value;
    return {};
  }

  private deleteNetworkInterface(input: Partial<DeleteNetworkInterfaceRequest>): Record<string, never> {
    const eni = this.requireEni(input.NetworkInterfaceId);
    if (eni.attachment || eni.status !== 'available') {
      throw fail('InvalidNetworkInterface.InUse', `The network interface '${eni.id}' is currently in use.`);
    }
    this.removeEni(eni);
    return {};
  }

  // --- tags ------------------------------------------------------------------------------------

  /**
   * CreateTags / DeleteTags (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_CreateTags.html):
   * keys up to 128 characters, values up to 256, "Tag keys can't start with aws:", at most 50 tags
   * per resource (TagLimitExceeded). Every resource is checked before any is changed.
   */
  private createTags(input: Partial<CreateTagsRequest>): Record<string, never> {
    const resources = input.Resources ?? [];
    if (resources.length === 0)
      throw fail('MissingParameter', 'The request must contain the parameter resourceIdSet');
    const tags = input.Tags ?? [];
    if (tags.length === 0) throw fail('MissingParameter', 'The request must contain the parameter tagSet');
    for (const tag of tags) checkTag(tag);
    const maps = resources.map((id) => this.tagsOf(id));
    for (const [index, map] of maps.entries()) {
      const keys = new Set([...map.keys(), ...tags.map((t) => t.Key ?? '')]);
      if (keys.size > 50)
        throw fail(
          'TagLimitExceeded',
          `The maximum number of tags (50) for resource '${resources[index] ?? ''}' has been reached.`,
        );
    }
    for (const map of maps) for (const tag of tags) map.set(tag.Key ?? '', tag.Value ?? '');
    return {};
  }

  /**
   * DeleteTags: a tag with a Value is deleted only if the value matches ("If you specify a tag key
   * with an empty string as the tag value, we delete the tag only if its value is an empty
   * string"); without Tags every tag of the resource goes (except aws: tags).
   */
  private deleteTags(input: Partial<DeleteTagsRequest>): Record<string, never> {
    const resources = input.Resources ?? [];
    if (resources.length === 0)
      throw fail('MissingParameter', 'The request must contain the parameter resourceIdSet');
    for (const tag of input.Tags ?? []) {
      if ((tag.Key ?? '').startsWith('aws:')) {
        throw fail(
          'InvalidParameterValue',
          `Value (${tag.Key ?? ''}) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`,
        );
      }
    }
    const maps = resources.map((id) => this.tagsOf(id));
    for (const map of maps) {
      // The EC2 query protocol sends nothing for an empty list (@aws-sdk/core's Ec2QueryProtocol
      // has serializeEmptyLists: false): `Tags: []` reaches AWS as no Tags at all, which deletes
      // every user tag.
      if (!input.Tags || input.Tags.length === 0) {
        for (const key of [...map.keys()]) if (!key.startsWith('aws:')) map.delete(key);
        continue;
      }
      for (const tag of input.Tags) {
        const key = tag.Key ?? '';
        if (tag.Value === undefined || map.get(key) === tag.Value) map.delete(key);
      }
    }
    return {};
  }

  private tagsOf(id: string): Map<string, string> {
    if (id.startsWith('vol-')) return this.requireVolume(id).tags;
    if (id.startsWith('i-')) return this.requireInstance(id).tags;
    if (id.startsWith('eni-')) return this.requireEni(id).tags;
    throw fail('InvalidID', `The ID '${id}' is not valid`);
  }

  /** TagSpecifications of a create call: only the resource type the call creates is allowed. */
  private tagsFromSpecifications(
    specs: readonly TagSpecification[] | undefined,
    resourceType: string,
  ): Map<string, string> {
    const tags = new Map<string, string>();
    for (const spec of specs ?? []) {
      if (spec.ResourceType !== resourceType) {
        throw fail(
          'InvalidParameterValue',
          `'${String(spec.ResourceType)}' is not a valid taggable resource type for this operation.`,
        );
      }
      for (const tag of spec.Tags ?? []) {
        checkTag(tag);
        tags.set(tag.Key ?? '', tag.Value ?? '');
      }
    }
    if (tags.size > 50) throw fail('TagLimitExceeded', 'The maximum number of tags (50) has been exceeded.');
    return tags;
  }

  // -------------------------------------------------------------------------------------------
  // Helpers
  // -------------------------------------------------------------------------------------------

  private now(): number {
    return this.cloud.clock.now();
  }

  /** Applies every timed transition that is due (lazily, from the virtual clock). */
  private settle(): void {
    if (this.agenda.runDue(this.now()) > 0) this.revision++;
  }

  /** One token from the operation's bucket, or RequestLimitExceeded (before any effect). */
  private takeToken(operation: string, input: Record<string, unknown>, limits: Ec2RequestBuckets): void {
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
  private mutation<T>(change: () => T): T {
    this.revision++;
    try {
      return change();
    } finally {
      this.revision++;
    }
  }

  private cached<R extends object, V extends object>(record: R, build: (record: R) => V): V {
    const hit = this.viewCache.get(record);
    if (hit && hit.revision === this.revision) return hit.view as V;
    const view = deepFreeze(build(record));
    this.viewCache.set(record, { revision: this.revision, view });
    return view;
  }

  private newId(prefix: string): string {
    for (;;) {
      let hex = '';
      for (let i = 0; i < 17; i++) hex += this.cloud.random.int(16).toString(16);
      const id = prefix + hex;
      if (!this.usedIds.has(id)) {
        this.usedIds.add(id);
        return id;
      }
    }
  }

  private makeVolume(
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

  private makeEni(
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

  private allocateIp(subnet: SubnetRec): number {
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

  private linkEni(
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

  private removeEni(eni: EniRec): void {
    this.eniMap.delete(eni.id);
    eni.subnet.used.delete(ipToNumber(eni.privateIp) - eni.subnet.base);
  }

  private checkVolumeId(id: string): void {
    if (!VOLUME_ID.test(id))
      throw fail('InvalidVolumeID.Malformed', `Invalid id: "${id}" (expecting "vol-...")`);
  }

  private checkInstanceId(id: string): void {
    if (!INSTANCE_ID.test(id))
      throw fail('InvalidInstanceID.Malformed', `Invalid id: "${id}" (expecting "i-...")`);
  }

  private checkEniId(id: string): void {
    if (!ENI_ID.test(id))
      throw fail('InvalidNetworkInterfaceID.Malformed', `Invalid id: "${id}" (expecting "eni-...")`);
  }

  private requireVolume(id: string | undefined): VolumeRec {
    const volumeId = required(id, 'VolumeId');
    this.checkVolumeId(volumeId);
    const volume = this.volumeMap.get(volumeId);
    if (!volume || this.hidden(volume)) {
      throw fail('InvalidVolume.NotFound', `The volume '${volumeId}' does not exist.`);
    }
    return volume;
  }

  /** Created so recently that the API does not see it yet (timing.consistencyMs). */
  private hidden(resource: { visibleAt?: number }): boolean {
    return resource.visibleAt !== undefined && resource.visibleAt > this.now();
  }

  private requireInstance(id: string | undefined): InstanceRec {
    const instanceId = required(id, 'InstanceId');
    this.checkInstanceId(instanceId);
    const instance = this.instanceMap.get(instanceId);
    if (!instance) throw fail('InvalidInstanceID.NotFound', `The instance ID '${instanceId}' does not exist`);
    return instance;
  }

  private requireEni(id: string | undefined): EniRec {
    const eniId = required(id, 'NetworkInterfaceId');
    this.checkEniId(eniId);
    const eni = this.eniMap.get(eniId);
    if (!eni || this.hidden(eni))
      throw fail('InvalidNetworkInterfaceID.NotFound', `The networkInterface ID '${eniId}' does not exist`);
    return eni;
  }

  // --- output shapes ---------------------------------------------------------------------------

  private volumeOut(v: VolumeRec): Volume {
    const a = v.attachment;
    const out: Volume = {
      VolumeId: v.id,
      Size: v.size,
      SnapshotId: v.snapshotId ?? '',
      AvailabilityZone: v.az,
      State: v.state,
      CreateTime: new Date(v.createTime),
      Attachments: a ? [this.attachmentOut(v, a)] : [],
      Encrypted: v.encrypted,
      VolumeType: v.volumeType,
      MultiAttachEnabled: false,
    };
    // Conditional assignments, not object spreads: this runs for every item of every page.
    if (v.kmsKeyId) out.KmsKeyId = v.kmsKeyId;
    if (v.iops !== undefined) out.Iops = v.iops;
    if (v.throughput !== undefined) out.Throughput = v.throughput;
    if (v.tags.size > 0) out.Tags = tagList(v.tags);
    return out;
  }

  private attachmentOut(v: VolumeRec, a: VolAttach): VolumeAttachment {
    return {
      VolumeId: v.id,
      InstanceId: a.instance.id,
      Device: a.device,
      State: a.state,
      AttachTime: new Date(a.attachTime),
      DeleteOnTermination: a.deleteOnTermination,
    };
  }

  private modificationOut(volumeId: string, m: ModRec): VolumeModification {
    return {
      VolumeId: volumeId,
      ModificationState: m.state,
      StartTime: new Date(m.startTime),
      ...(m.endTime !== undefined ? { EndTime: new Date(m.endTime) } : {}),
      Progress: m.state === 'completed' ? 100 : m.state === 'optimizing' ? 50 : 0,
      OriginalSize: m.originalSize,
      TargetSize: m.targetSize,
      OriginalVolumeType: m.originalType,
      TargetVolumeType: m.targetType,
      ...(m.originalIops !== undefined ? { OriginalIops: m.originalIops } : {}),
      ...(m.targetIops !== undefined ? { TargetIops: m.targetIops } : {}),
      ...(m.originalThroughput !== undefined ? { OriginalThroughput: m.originalThroughput } : {}),
      ...(m.targetThroughput !== undefined ? { TargetThroughput: m.targetThroughput } : {}),
      OriginalMultiAttachEnabled: false,
      TargetMultiAttachEnabled: false,
    };
  }

  private instanceOut(i: InstanceRec): Instance {
    const live = i.state !== 'terminated';
    return {
      InstanceId: i.id,
      ImageId: 'ami-0123456789abcdef0',
      InstanceType: i.instanceType as Instance['InstanceType'],
      State: { Code: STATE_CODES[i.state], Name: i.state },
      StateTransitionReason: i.transitionReason,
      Placement: { AvailabilityZone: i.subnet.az, Tenancy: 'default', GroupName: '' },
      ...(live
        ? {
            SubnetId: i.subnet.id,
            VpcId: i.subnet.vpcId,
            PrivateIpAddress: i.privateIp,
            PrivateDnsName: `ip-${i.privateIp.replace(/\./g, '-')}.${this.cloud.region}.compute.internal`,
          }
        : { PrivateDnsName: '' }),
      LaunchTime: new Date(i.launchTime),
      Architecture: this.instanceTypes[i.instanceType]?.architecture,
      RootDeviceType: 'ebs',
      RootDeviceName: '/dev/xvda',
      Hypervisor: 'xen',
      VirtualizationType: 'hvm',
      EbsOptimized: true,
      ...(i.tags.size > 0 ? { Tags: tagList(i.tags) } : {}),
      BlockDeviceMappings: [...i.devices.entries()].map(([device, v]) => ({
        DeviceName: device,
        Ebs: {
          VolumeId: v.id,
          Status: v.attachment?.state ?? 'detached',
          AttachTime: new Date(v.attachment?.attachTime ?? 0),
          DeleteOnTermination: v.attachment?.deleteOnTermination ?? false,
        },
      })),
      NetworkInterfaces: [...i.enis.values()]
        .sort((a, b) => (a.attachment?.deviceIndex ?? 0) - (b.attachment?.deviceIndex ?? 0))
        .map((e) => ({
          NetworkInterfaceId: e.id,
          SubnetId: e.subnet.id,
          VpcId: e.subnet.vpcId,
          Description: e.description,
          OwnerId: this.cloud.account,
          Status: e.status,
          MacAddress: e.mac,
          PrivateIpAddress: e.privateIp,
          PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: e.privateIp }],
          SourceDestCheck: true,
          InterfaceType: 'interface',
          Groups: [],
          Attachment: e.attachment && {
            AttachmentId: e.attachment.attachmentId,
            DeviceIndex: e.attachment.deviceIndex,
            Status: e.attachment.state,
            AttachTime: new Date(e.attachment.attachTime),
            DeleteOnTermination: e.attachment.deleteOnTermination,
            NetworkCardIndex: 0,
          },
        })),
    };
  }

  private eniOut(e: EniRec): NetworkInterface {
    const a = e.attachment;
    return {
      NetworkInterfaceId: e.id,
      SubnetId: e.subnet.id,
      VpcId: e.subnet.vpcId,
      AvailabilityZone: e.subnet.az,
      AvailabilityZoneId: e.subnet.azId,
      Description: e.description,
      InterfaceType: 'interface',
      MacAddress: e.mac,
      OwnerId: this.cloud.account,
      PrivateIpAddress: e.privateIp,
      PrivateDnsName: `ip-${e.privateIp.replace(/\./g, '-')}.${this.cloud.region}.compute.internal`,
      PrivateIpAddresses: [{ Primary: true, PrivateIpAddress: e.privateIp }],
      RequesterManaged: false,
      SourceDestCheck: true,
      Status: e.status,
      Groups: [],
      TagSet: tagList(e.tags),
      ...(a
        ? {
            Attachment: {
              AttachmentId: a.attachmentId,
              InstanceId: a.instance.id,
              InstanceOwnerId: this.cloud.account,
              DeviceIndex: a.deviceIndex,
              NetworkCardIndex: 0,
              Status: a.state,
              AttachTime: new Date(a.attachTime),
              DeleteOnTermination: a.deleteOnTermination,
            },
          }
        : {}),
    };
  }

  private volumeView(v: VolumeRec): LocalVolume {
    return this.cached(v, (x) => this.buildVolumeView(x));
  }

  private instanceView(i: InstanceRec): LocalInstance {
    return this.cached(i, (x) => this.buildInstanceView(x));
  }

  private eniView(e: EniRec): LocalNetworkInterface {
    return this.cached(e, (x) => this.buildEniView(x));
  }

  private buildVolumeView(v: VolumeRec): LocalVolume {
    const a = v.attachment;
    const view: LocalVolume = {
      volumeId: v.id,
      state: v.state,
      size: v.size,
      availabilityZone: v.az,
      tags: Object.fromEntries(v.tags),
      attachments: a
        ? [
            {
              instanceId: a.instance.id,
              device: a.device,
              state: a.state,
              deleteOnTermination: a.deleteOnTermination,
              attachTime: a.attachTime,
            },
          ]
        : [],
      encrypted: v.encrypted,
      volumeType: v.volumeType,
    };
    if (v.iops !== undefined) view.iops = v.iops;
    if (v.throughput !== undefined) view.throughput = v.throughput;
    if (v.kmsKeyId !== undefined) view.kmsKeyId = v.kmsKeyId;
    if (v.snapshotId !== undefined) view.snapshotId = v.snapshotId;
    const last = v.modifications[v.modifications.length - 1];
    if (last)
      view.modification = { state: last.state, targetSize: last.targetSize, startTime: last.startTime };
    return view;
  }

  private buildInstanceView(i: InstanceRec): LocalInstance {
    return {
      instanceId: i.id,
      state: i.state,
      instanceType: i.instanceType,
      availabilityZone: i.subnet.az,
      subnetId: i.subnet.id,
      vpcId: i.subnet.vpcId,
      privateIp: i.privateIp,
      tags: Object.fromEntries(i.tags),
      volumes: [...i.devices.entries()].map(([device, v]) => ({
        volumeId: v.id,
        device,
        state: v.attachment?.state ?? 'detached',
        deleteOnTermination: v.attachment?.deleteOnTermination ?? false,
      })),
      networkInterfaces: [...i.enis.entries()]
        .sort(([a], [b]) => a - b)
        .map(([deviceIndex, e]) => ({
          networkInterfaceId: e.id,
          deviceIndex,
          privateIp: e.privateIp,
          state: e.attachment?.state ?? 'detached',
        })),
    };
  }

  private buildEniView(e: EniRec): LocalNetworkInterface {
    const a = e.attachment;
    return {
      networkInterfaceId: e.id,
      state: e.status,
      subnetId: e.subnet.id,
      vpcId: e.subnet.vpcId,
      availabilityZone: e.subnet.az,
      privateIp: e.privateIp,
      description: e.description,
      tags: Object.fromEntries(e.tags),
      ...(a
        ? {
            attachment: {
              attachmentId: a.attachmentId,
              instanceId: a.instance.id,
              deviceIndex: a.deviceIndex,
              state: a.state,
              deleteOnTermination: a.deleteOnTermination,
            },
          }
        : {}),
    };
  }
}

// ---------------------------------------------------------------------------------------------
// Filters per operation (names from each Describe* page of the EC2 API reference)
// ---------------------------------------------------------------------------------------------

const iso = (t: number | undefined): string | undefined =>
  t === undefined ? undefined : new Date(t).toISOString();

/** https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeVolumes.html */
const VOLUME_FILTERS: FilterSpec<VolumeRec> = {
  operation: 'DescribeVolumes',
  fields: {
    'attachment.attach-time': (v) => iso(v.attachment?.attachTime),
    'attachment.delete-on-termination': (v) => v.attachment?.deleteOnTermination,
    'attachment.device': (v) => v.attachment?.device,
    'attachment.instance-id': (v) => v.attachment?.instance.id,
    'attachment.status': (v) => v.attachment?.state,
    'availability-zone': (v) => v.az,
    'create-time': (v) => iso(v.createTime),
    encrypted: (v) => v.encrypted,
    'kms-key-id': (v) => v.kmsKeyId,
    'multi-attach-enabled': () => false,
    'fast-restored': () => false,
    size: (v) => v.size,
    'snapshot-id': (v) => v.snapshotId,
    status: (v) => v.state,
    'volume-id': (v) => v.id,
    'volume-type': (v) => v.volumeType,
  },
  tags: (v) => v.tags,
};

/** https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeInstances.html */
const INSTANCE_FILTERS: FilterSpec<InstanceRec> = {
  operation: 'DescribeInstances',
  fields: {
    'availability-zone': (i) => i.subnet.az,
    'block-device-mapping.attach-time': (i) =>
      [...i.devices.values()].map((v) => iso(v.attachment?.attachTime)),
    'block-device-mapping.delete-on-termination': (i) =>
      [...i.devices.values()].map((v) => v.attachment?.deleteOnTermination),
    'block-device-mapping.device-name': (i) => [...i.devices.keys()],
    'block-device-mapping.status': (i) => [...i.devices.values()].map((v) => v.attachment?.state),
    'block-device-mapping.volume-id': (i) => [...i.devices.values()].map((v) => v.id),
    'image-id': () => 'ami-0123456789abcdef0',
    'instance-id': (i) => i.id,
    'instance-state-code': (i) => STATE_CODES[i.state],
    'instance-state-name': (i) => i.state,
    'instance-type': (i) => i.instanceType,
    'launch-time': (i) => iso(i.launchTime),
    'network-interface.network-interface-id': (i) => [...i.enis.values()].map((e) => e.id),
    'network-interface.attachment.device-index': (i) => [...i.enis.keys()],
    'network-interface.attachment.status': (i) => [...i.enis.values()].map((e) => e.attachment?.state),
    'network-interface.addresses.private-ip-address': (i) => [...i.enis.values()].map((e) => e.privateIp),
    'network-interface.subnet-id': (i) => [...i.enis.values()].map((e) => e.subnet.id),
    'private-ip-address': (i) => (i.state === 'terminated' ? undefined : i.privateIp),
    'reservation-id': (i) => i.reservationId,
    'root-device-name': () => '/dev/xvda',
    'root-device-type': () => 'ebs',
    'subnet-id': (i) => (i.state === 'terminated' ? undefined : i.subnet.id),
    'vpc-id': (i) => (i.state === 'terminated' ? undefined : i.subnet.vpcId),
    'owner-id': () => undefined,
  },
  tags: (i) => i.tags,
};

/** https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeNetworkInterfaces.html */
const ENI_FILTERS: FilterSpec<EniRec> = {
  operation: 'DescribeNetworkInterfaces',
  fields: {
    'addresses.private-ip-address': (e) => e.privateIp,
    'addresses.primary': () => true,
    'attachment.attachment-id': (e) => e.attachment?.attachmentId,
    'attachment.attach-time': (e) => iso(e.attachment?.attachTime),
    'attachment.delete-on-termination': (e) => e.attachment?.deleteOnTermination,
    'attachment.device-index': (e) => e.attachment?.deviceIndex,
    'attachment.instance-id': (e) => e.attachment?.instance.id,
    'attachment.status': (e) => e.attachment?.state,
    'availability-zone': (e) => e.subnet.az,
    description: (e) => e.description,
    'interface-type': () => 'interface',
    'mac-address': (e) => e.mac,
    'network-interface-id': (e) => e.id,
    'private-ip-address': (e) => e.privateIp,
    'private-dns-name': (e) => `ip-${e.privateIp.replace(/\./g, '-')}`,
    'requester-managed': () => false,
    'source-dest-check': () => true,
    status: (e) => e.status,
    'subnet-id': (e) => e.subnet.id,
    'vpc-id': (e) => e.subnet.vpcId,
  },
  tags: (e) => e.tags,
};

// ---------------------------------------------------------------------------------------------
// Small functions
// ---------------------------------------------------------------------------------------------

function required<T>(value: T | undefined, name: string): T {
  if (value === undefined || value === null || value === '') {
    throw fail('MissingParameter', `The request must contain the parameter ${name}`);
  }
  return value;
}

function checkTag(tag: Tag): void {
  const key = tag.Key;
  if (key === undefined || key === '') throw fail('InvalidParameterValue', 'Tag key cannot be empty');
  if (key.startsWith('aws:')) {
    throw fail(
      'InvalidParameterValue',
      `Value (${key}) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for internal use`,
    );
  }
  if (key.length > 128)
    throw fail('InvalidParameterValue', `Tag key exceeds the maximum length of 128 characters`);
  if ((tag.Value ?? '').length > 256)
    throw fail('InvalidParameterValue', `Tag value exceeds the maximum length of 256 characters`);
}

function tagList(tags: ReadonlyMap<string, string>): Tag[] {
  return [...tags].map(([Key, Value]) => ({ Key, Value }));
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function stableStringify(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  if (value && typeof value === 'object') {
    return `{${Object.keys(value)
      .filter((k) => (value as Record<string, unknown>)[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stableStringify((value as Record<string, unknown>)[k])}`)
      .join(',')}}`;
  }
  return JSON.stringify(value);
}

function ipToNumber(ip: string): number {
  const parts = ip.split('.');
  if (parts.length !== 4) return NaN;
  let n = 0;
  for (const part of parts) {
    const v = Number(part);
    if (!/^\d{1,3}$/.test(part) || v > 255) return NaN;
    n = n * 256 + v;
  }
  return n;
}

function numberToIp(n: number): string {
  return [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join('.');
}

function regionShort(region: string): string {
  // eu-west-1 → euw1 (zone ids look like euw1-az1)
  const [geo, direction, number] = region.split('-');
  return `${geo ?? 'xx'}${(direction ?? 'x').charAt(0)}${number ?? '1'}`;
}

/** Freezes a view and everything in it (views are shared between readers). */
function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const inner of Object.values(value)) deepFreeze(inner);
  }
  return value;
}
