/** AZs, subnets and network interfaces. */
import type {
  AttachNetworkInterfaceRequest,
  AvailabilityZone,
  CreateNetworkInterfaceRequest,
  DeleteNetworkInterfaceRequest,
  DescribeAvailabilityZonesRequest,
  DescribeNetworkInterfacesRequest,
  DescribeSubnetsRequest,
  DetachNetworkInterfaceRequest,
  ModifyNetworkInterfaceAttributeRequest,
  NetworkInterface,
  Subnet,
} from '@aws-sdk/client-ec2';
import { fail } from '../errors';
import { compileFilters } from '../filters';
import { paginate } from '../paging';
import { ENI_FILTERS } from './describe-filters';
import { eniOut } from './outputs';
import type { EniRec, SubnetRec } from './records';
import type { Ec2State } from './state';
import { tagsFromSpecifications } from './tags';
import type { LocalInstanceType } from './types';
import { ipToNumber, isDefined, numberToIp, regionShort, required } from './util';

export interface SeedNetworkOptions {
  azs: string[];
  cidr?: string;
}

/** A VPC with one subnet (/20 each) per AZ. */
export function seedNetwork(
  s: Ec2State,
  options: SeedNetworkOptions,
): { vpcId: string; subnets: Record<string, string> } {
  return s.mutation(() => {
    const cidr = options.cidr ?? `10.${s.vpcCount % 256}.0.0/16`;
    s.vpcCount++;
    const [address, bitsText] = cidr.split('/');
    const bits = Number(bitsText);
    const base = ipToNumber(address ?? '');
    if (!Number.isInteger(bits) || bits < 16 || bits > 28 || Number.isNaN(base)) {
      throw new Error(`seedNetwork: unsupported CIDR ${cidr}`);
    }
    const vpcId = s.newId('vpc-');
    s.vpcs.set(vpcId, { id: vpcId, cidr });
    const subnetBits = Math.min(28, bits + 4);
    const subnetSize = 2 ** (32 - subnetBits);
    const subnets: Record<string, string> = {};
    options.azs.forEach((az, index) => {
      if (!s.azs.has(az)) s.azs.set(az, `${regionShort(s.cloud.region)}-az${s.azs.size + 1}`);
      const subnetBase = base + index * subnetSize;
      const id = s.newId('subnet-');
      s.subnets.set(id, {
        id,
        vpcId,
        az,
        azId: s.azs.get(az) ?? az,
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

export interface SeedNetworkInterfaceOptions {
  subnetId: string;
  privateIp?: string;
  tags?: Record<string, string>;
  description?: string;
}

/** An `available` ENI in a subnet. */
export function seedNetworkInterface(s: Ec2State, options: SeedNetworkInterfaceOptions): string {
  return s.mutation(() => {
    s.settle();
    const subnet = s.subnets.get(options.subnetId);
    if (!subnet) throw new Error(`seedNetworkInterface: unknown subnet ${options.subnetId}`);
    return s.makeEni(
      subnet,
      options.privateIp,
      options.description ?? '',
      new Map(Object.entries(options.tags ?? {})),
    ).id;
  });
}

export function describeAvailabilityZones(
  s: Ec2State,
  input: Partial<DescribeAvailabilityZonesRequest>,
): {
  AvailabilityZones: AvailabilityZone[];
} {
  const names = input.ZoneNames?.length ? input.ZoneNames : undefined; // [] is sent as nothing
  const zones = [...s.azs.entries()]
    .filter(([name]) => !names || names.includes(name))
    .map(([name, id]) => ({
      ZoneName: name,
      ZoneId: id,
      State: 'available' as const,
      RegionName: s.cloud.region,
      ZoneType: 'availability-zone',
      OptInStatus: 'opt-in-not-required' as const,
    }));
  for (const name of names ?? []) {
    if (!s.azs.has(name)) {
      throw fail('InvalidParameterValue', `Invalid availability zone: [${name}]`);
    }
  }
  return { AvailabilityZones: zones };
}

export function describeSubnets(
  s: Ec2State,
  input: Partial<DescribeSubnetsRequest>,
): { Subnets: Subnet[]; NextToken?: string } {
  const ids = input.SubnetIds?.length ? input.SubnetIds : undefined; // [] is sent as nothing
  for (const id of ids ?? []) {
    if (!s.subnets.has(id)) throw fail('InvalidSubnetID.NotFound', `The subnet ID '${id}' does not exist`);
  }
  const match = compileFilters<SubnetRec>(input.Filters, {
    operation: 'DescribeSubnets',
    fields: {
      'subnet-id': (subnet) => subnet.id,
      'vpc-id': (subnet) => subnet.vpcId,
      'availability-zone': (subnet) => subnet.az,
      'availability-zone-id': (subnet) => subnet.azId,
      'cidr-block': (subnet) => subnet.cidr,
      state: () => 'available',
    },
    tags: () => new Map(),
  });
  const candidates = ids ? ids.map((id) => s.subnets.get(id)).filter(isDefined) : [...s.subnets.values()];
  const { page, nextToken } = paginate(candidates.filter(match), input.MaxResults, input.NextToken, {
    min: 5,
    max: 1000,
  });
  return {
    Subnets: page.map((subnet) => ({
      SubnetId: subnet.id,
      VpcId: subnet.vpcId,
      AvailabilityZone: subnet.az,
      AvailabilityZoneId: subnet.azId,
      CidrBlock: subnet.cidr,
      State: 'available',
      AvailableIpAddressCount: subnet.size - 5 - subnet.used.size,
      OwnerId: s.cloud.account,
    })),
    ...(nextToken ? { NextToken: nextToken } : {}),
  };
}

export function createNetworkInterface(
  s: Ec2State,
  input: Partial<CreateNetworkInterfaceRequest>,
): {
  NetworkInterface: NetworkInterface;
} {
  const subnetId = required(input.SubnetId, 'SubnetId');
  const subnet = s.subnets.get(subnetId);
  if (!subnet) throw fail('InvalidSubnetID.NotFound', `The subnet ID '${subnetId}' does not exist`);
  const tags = tagsFromSpecifications(input.TagSpecifications, 'network-interface');
  const eni = s.makeEni(subnet, input.PrivateIpAddress, input.Description ?? '', tags);
  if (s.settings.timing.consistencyMs > 0) eni.visibleAt = s.now() + s.settings.timing.consistencyMs;
  return { NetworkInterface: eniOut(s, eni) };
}

/**
 * DescribeNetworkInterfaces (https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_DescribeNetworkInterfaces.html):
 * MaxResults 5–1000, not together with NetworkInterfaceIds.
 */
export function describeNetworkInterfaces(
  s: Ec2State,
  input: Partial<DescribeNetworkInterfacesRequest>,
): {
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
      s.checkEniId(id);
      const eni = s.eniMap.get(id);
      if (eni && !s.hidden(eni)) candidates.push(eni);
      else missing.push(id);
    }
    if (missing.length > 0) {
      throw fail(
        'InvalidNetworkInterfaceID.NotFound',
        `The networkInterface ID '${missing.join(', ')}' does not exist`,
      );
    }
  } else {
    candidates = [...s.eniMap.values()];
  }
  const match = compileFilters(input.Filters, ENI_FILTERS);
  const now = s.now();
  const found = candidates.filter((e) => (e.visibleAt === undefined || e.visibleAt <= now) && match(e));
  const { page, nextToken } = paginate(found, input.MaxResults, input.NextToken, {
    min: 5,
    max: 1000,
  });
  return {
    NetworkInterfaces: page.map((e) => eniOut(s, e)),
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
export function attachNetworkInterface(
  s: Ec2State,
  input: Partial<AttachNetworkInterfaceRequest>,
): {
  AttachmentId: string;
  NetworkCardIndex: number;
} {
  const deviceIndex = required(input.DeviceIndex, 'DeviceIndex');
  const instance = s.requireInstance(input.InstanceId);
  const eni = s.requireEni(input.NetworkInterfaceId);
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
  const type = s.settings.instanceTypes[instance.instanceType] as LocalInstanceType;
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
  const attachment = s.linkEni(eni, instance, deviceIndex, false, 'attaching', s.now());
  s.agenda.at(s.now() + s.settings.timing.attachMs, () => {
    if (eni.attachment !== attachment || attachment.state !== 'attaching') return;
    attachment.state = 'attached';
    s.revision++; // the views the hook reads must show the change
    s.settings.hooks.networkInterfaceAttached?.(s.eniView(eni), instance.id);
  });
  return { AttachmentId: attachment.attachmentId, NetworkCardIndex: 0 };
}

/**
 * DetachNetworkInterface: an unknown attachment answers InvalidAttachmentID.NotFound; "You can't
 * detach a primary network interface from an instance" (OperationNotPermitted).
 */
export function detachNetworkInterface(
  s: Ec2State,
  input: Partial<DetachNetworkInterfaceRequest>,
): Record<string, never> {
  const attachmentId = required(input.AttachmentId, 'AttachmentId');
  const eni = s.eniByAttachment.get(attachmentId);
  const attachment = eni?.attachment;
  if (!eni || !attachment || attachment.attachmentId !== attachmentId) {
    throw fail('InvalidAttachmentID.NotFound', `Interface attachment '${attachmentId}' does not exist.`);
  }
  if (attachment.deviceIndex === 0) {
    throw fail('OperationNotPermitted', `The network interface at device index 0 cannot be detached.`);
  }
  if (attachment.state !== 'detaching') {
    attachment.state = 'detaching';
    s.agenda.at(s.now() + s.settings.timing.detachMs, () => {
      if (eni.attachment !== attachment || attachment.state !== 'detaching') return;
      attachment.state = 'detached';
      eni.attachment = undefined;
      eni.status = 'available';
      s.eniByAttachment.delete(attachment.attachmentId);
      if (attachment.instance.enis.get(attachment.deviceIndex) === eni)
        attachment.instance.enis.delete(attachment.deviceIndex);
      s.revision++;
      s.settings.hooks.networkInterfaceDetached?.(s.eniView(eni), attachment.instance.id);
    });
  }
  return {};
}

/**
 * ModifyNetworkInterfaceAttribute: the attachment's DeleteOnTermination (with its AttachmentId,
 * https://docs.aws.amazon.com/AWSEC2/latest/APIReference/API_ModifyNetworkInterfaceAttribute.html)
 * and the description; other attributes are accepted and ignored (security groups are not modelled).
 */
export function modifyNetworkInterfaceAttribute(
  s: Ec2State,
  input: Partial<ModifyNetworkInterfaceAttributeRequest>,
): Record<string, never> {
  const eni = s.requireEni(input.NetworkInterfaceId);
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

export function deleteNetworkInterface(
  s: Ec2State,
  input: Partial<DeleteNetworkInterfaceRequest>,
): Record<string, never> {
  const eni = s.requireEni(input.NetworkInterfaceId);
  if (eni.attachment || eni.status !== 'available') {
    throw fail('InvalidNetworkInterface.InUse', `The network interface '${eni.id}' is currently in use.`);
  }
  s.removeEni(eni);
  return {};
}
