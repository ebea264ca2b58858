/** The EC2 model's public read-only views and its tunables (timing, hooks, request buckets, instance types). */
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
  /** The ENI's MAC address (`MacAddress`), lowercase `02:xx:xx:xx:xx:xx`. */
  macAddress: string;
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
   * Eventual consistency: for this long after CreateVolume, CreateNetworkInterface or an
   * instance's launch the new id answers NotFound and filtered Describe* calls leave it out ("If
   * you try to use a resource right after you create it, you might get an error because the
   * resource hasn't propagated",
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
  /** An ENI's attachment reached `attached` (after `timing.attachMs`); not for an instance's primary ENI. */
  networkInterfaceAttached?: (eni: LocalNetworkInterface, instanceId: string) => void;
  /**
   * An ENI left an instance: its detachment reached `detached`, or its instance terminated. Not
   * for a primary ENI deleted with its instance.
   */
  networkInterfaceDetached?: (eni: LocalNetworkInterface, instanceId: string) => void;
  /** An instance reached `terminated` (after its volumes and ENIs were released). */
  instanceTerminated?: (instance: LocalInstance) => void;
}

/** A subnet as the seeding made it (DescribeSubnets' CidrBlock). */
export interface LocalSubnet {
  subnetId: string;
  vpcId: string;
  availabilityZone: string;
  cidr: string;
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
