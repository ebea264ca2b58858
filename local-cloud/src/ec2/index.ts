import type {
  AttachNetworkInterfaceRequest,
  AttachVolumeRequest,
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
  ModifyInstanceAttributeRequest,
  ModifyNetworkInterfaceAttributeRequest,
  ModifyVolumeRequest,
  TerminateInstancesRequest,
} from '@aws-sdk/client-ec2';
import { fail } from '../errors';
import type { LocalCloud } from '../index';
import { unknownOperation, type CallContext, type ServiceModel } from '../transport';
import * as instances from './instances';
import * as network from './network';
import { Ec2State, type Ec2Settings } from './state';
import * as tags from './tags';
import {
  INSTANCE_TYPES,
  type Ec2Hooks,
  type Ec2RequestBuckets,
  type Ec2Timing,
  type LocalInstance,
  type LocalInstanceState,
  type LocalInstanceType,
  type LocalNetworkInterface,
  type LocalSubnet,
  type LocalVolume,
} from './types';
import * as modifications from './volume-modifications';
import * as volumes from './volumes';

export * from './types';

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
 * wildcards and MaxResults/NextToken; DryRun; AWS error codes and, where known, their messages;
 * volumes' KMS keys and the KMS permissions EBS uses on the caller's behalf (keys.ts).
 * Opt-in realism: timing.deviceReleaseMs (a just-detached device name stays taken),
 * timing.consistencyMs (eventual consistency after create), requestBuckets (per-API token
 * buckets answering RequestLimitExceeded).
 *
 * Simplified: no stopped state (AttachVolume to a stopped instance is legal in AWS), no
 * snapshots (SnapshotId needs Size), no Multi-Attach, no security groups, one IP per ENI, one
 * instance per reservation, every permission granted here but KMS key use (IAM is judged
 * before the model, authorization.ts), modification never `failed`, pagination tokens are offsets (AWS's are opaque; both may skip or repeat items that change meanwhile).
 */
//
// Layout: this file is the façade (the public methods and the dispatch); `state.ts` holds the
// records, ids, timed transitions and request buckets every resource module works on; `network.ts`
// (AZs, subnets, ENIs), `instances.ts`, `volumes.ts`, `volume-modifications.ts`, `volume-config.ts`
// and `tags.ts` hold the API calls with their rules and citations; `outputs.ts` the API shapes,
// `views.ts` the read-only views, `describe-filters.ts` the Describe* filter names.

/** The EC2 part of the local cloud. */
export class Ec2Model implements ServiceModel, Ec2Settings {
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
  readonly instanceTypes: Record<string, LocalInstanceType> = { ...INSTANCE_TYPES };
  /**
   * The account's EBS default KMS key (ModifyEbsDefaultKmsKeyId): the key of an encrypted volume
   * created without KmsKeyId. `undefined`: the AWS managed key `aws/ebs`. A customer managed key
   * here makes the callers of CreateVolume and AttachVolume need its permissions (ec2/keys.ts).
   */
  ebsDefaultKmsKeyId: string | undefined = undefined;
  /** Alias names (`alias/…`) and the key ARNs they point to, for KmsKeyId given as an alias. */
  readonly kmsAliases: Record<string, string> = {};

  private readonly state: Ec2State;

  constructor(readonly cloud: LocalCloud) {
    this.state = new Ec2State(cloud, this);
  }

  // -------------------------------------------------------------------------------------------
  // Seeding API (not AWS calls)
  // -------------------------------------------------------------------------------------------

  /** A VPC with one subnet (/20 each) per AZ. */
  seedNetwork(options: network.SeedNetworkOptions): { vpcId: string; subnets: Record<string, string> } {
    return network.seedNetwork(this.state, options);
  }

  /**
   * The next instances launched (seeded or by Auto Scaling) get these ids, in order, instead of
   * generated ones: for ids of another form than today's `i-0` + 16 hex, such as the 8-digit
   * `i-1a2b3c4d` of instances launched before EC2's longer ids. Each must be unused.
   */
  nextInstanceIds(ids: readonly string[]): void {
    for (const id of ids) {
      if (
        !/^i-[0-9a-f]{8,17}$/.test(id) ||
        this.state.usedIds.has(id) ||
        this.state.queuedInstanceIds.includes(id)
      )
        throw new Error(`nextInstanceIds: ${id} is not an unused instance id`);
      this.state.queuedInstanceIds.push(id);
    }
  }

  /** RunInstances-like seeding: one instance, `pending` then `running` after `timing.instanceBootMs`. */
  runInstance(options: instances.RunInstanceOptions): string {
    return instances.runInstance(this.state, options);
  }

  /** `shutting-down` now, `terminated` later (see instances.terminateInstance). */
  terminateInstance(instanceId: string): void {
    instances.terminateInstance(this.state, instanceId);
  }

  /** `stopping` now, `stopped` later, volumes and ENIs still attached (see instances.stopInstance). */
  stopInstance(instanceId: string): void {
    instances.stopInstance(this.state, instanceId);
  }

  /** A volume that exists already, `available` (seeding, not an API call: no AZ check, no delay). */
  seedVolume(options: volumes.SeedVolumeOptions): string {
    return volumes.seedVolume(this.state, options);
  }

  /** An `available` ENI in a subnet. */
  seedNetworkInterface(options: network.SeedNetworkInterfaceOptions): string {
    return network.seedNetworkInterface(this.state, options);
  }

  // -------------------------------------------------------------------------------------------
  // Read-only views
  // -------------------------------------------------------------------------------------------

  instance(instanceId: string): LocalInstance | undefined {
    this.state.settle();
    const instance = this.state.instanceMap.get(instanceId);
    return instance && this.state.instanceView(instance);
  }

  /** Just the state of an instance (no view built): for models that poll every instance. */
  instanceState(instanceId: string): LocalInstanceState | undefined {
    this.state.settle();
    return this.state.instanceMap.get(instanceId)?.state;
  }

  volume(volumeId: string): LocalVolume | undefined {
    this.state.settle();
    const volume = this.state.volumeMap.get(volumeId);
    return volume && this.state.volumeView(volume);
  }

  /** Every subnet (the seeded VPCs'), with its CIDR. */
  subnets(): LocalSubnet[] {
    return [...this.state.subnets.values()].map((subnet) => ({
      subnetId: subnet.id,
      vpcId: subnet.vpcId,
      availabilityZone: subnet.az,
      cidr: subnet.cidr,
    }));
  }

  networkInterface(id: string): LocalNetworkInterface | undefined {
    this.state.settle();
    const eni = this.state.eniMap.get(id);
    return eni && this.state.eniView(eni);
  }

  volumes(): LocalVolume[] {
    this.state.settle();
    return [...this.state.volumeMap.values()].map((v) => this.state.volumeView(v));
  }

  networkInterfaces(): LocalNetworkInterface[] {
    this.state.settle();
    return [...this.state.eniMap.values()].map((e) => this.state.eniView(e));
  }

  instances(): LocalInstance[] {
    this.state.settle();
    return [...this.state.instanceMap.values()].map((i) => this.state.instanceView(i));
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
    this.state.settle();
    return this.dispatch(operation, input);
  }

  handle(operation: string, input: Record<string, unknown>, call?: CallContext): unknown {
    const s = this.state;
    s.settle();
    if (this.requestBuckets) s.takeToken(operation, input, this.requestBuckets);
    // Describe* calls change nothing; every other call may.
    if (operation.startsWith('Describe')) return this.dispatch(operation, input);
    return s.mutation(() => this.dispatch(operation, input, call));
  }

  private dispatch(operation: string, input: Record<string, unknown>, call?: CallContext): unknown {
    const s = this.state;
    if (input.DryRun === true) {
      // "Checks whether you have the required permissions for the action, without actually making
      // the request": the local cloud grants every permission, so DryRun always answers this.
      throw fail('DryRunOperation', 'Request would have succeeded, but DryRun flag is set.', 412);
    }
    switch (operation) {
      case 'DescribeAvailabilityZones':
        return network.describeAvailabilityZones(s, input as Partial<DescribeAvailabilityZonesRequest>);
      case 'DescribeSubnets':
        return network.describeSubnets(s, input as Partial<DescribeSubnetsRequest>);
      case 'DescribeInstances':
        return instances.describeInstances(s, input as Partial<DescribeInstancesRequest>);
      case 'DescribeInstanceTypes':
        return instances.describeInstanceTypes(s, input as Partial<DescribeInstanceTypesRequest>);
      case 'ModifyInstanceAttribute':
        return instances.modifyInstanceAttribute(s, input as Partial<ModifyInstanceAttributeRequest>);
      case 'TerminateInstances':
        return instances.terminateInstances(s, input as Partial<TerminateInstancesRequest>);
      case 'CreateVolume':
        return volumes.createVolume(s, input as Partial<CreateVolumeRequest>, call);
      case 'DescribeVolumes':
        return volumes.describeVolumes(s, input as Partial<DescribeVolumesRequest>);
      case 'AttachVolume':
        return volumes.attachVolume(s, input as Partial<AttachVolumeRequest>, call);
      case 'DetachVolume':
        return volumes.detachVolume(s, input as Partial<DetachVolumeRequest>);
      case 'DeleteVolume':
        return volumes.deleteVolume(s, input as Partial<DeleteVolumeRequest>);
      case 'ModifyVolume':
        return modifications.modifyVolume(s, input as Partial<ModifyVolumeRequest>);
      case 'DescribeVolumesModifications':
        return modifications.describeVolumesModifications(
          s,
          input as Partial<DescribeVolumesModificationsRequest>,
        );
      case 'CreateNetworkInterface':
        return network.createNetworkInterface(s, input as Partial<CreateNetworkInterfaceRequest>);
      case 'DescribeNetworkInterfaces':
        return network.describeNetworkInterfaces(s, input as Partial<DescribeNetworkInterfacesRequest>);
      case 'AttachNetworkInterface':
        return network.attachNetworkInterface(s, input as Partial<AttachNetworkInterfaceRequest>);
      case 'DetachNetworkInterface':
        return network.detachNetworkInterface(s, input as Partial<DetachNetworkInterfaceRequest>);
      case 'ModifyNetworkInterfaceAttribute':
        return network.modifyNetworkInterfaceAttribute(
          s,
          input as Partial<ModifyNetworkInterfaceAttributeRequest>,
        );
      case 'DeleteNetworkInterface':
        return network.deleteNetworkInterface(s, input as Partial<DeleteNetworkInterfaceRequest>);
      case 'CreateTags':
        return tags.createTags(s, input as Partial<CreateTagsRequest>);
      case 'DeleteTags':
        return tags.deleteTags(s, input as Partial<DeleteTagsRequest>);
      default:
        return unknownOperation('ec2', operation);
    }
  }
}
