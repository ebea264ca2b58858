/**
 * Which Availability Zones an API call touches, for the AZ brownout fault (transport.ts `Faults`):
 * the AZs of the instances, volumes and network interfaces it names (by id, in a filter, or in a
 * disk alarm's name or dimensions), and any AvailabilityZone it names. Calls that name no resource
 * (a DescribeVolumes by tag only) touch no single AZ.
 *
 * Only EC2's calls: EC2 instances and EBS volumes are zonal services, while Auto Scaling, Systems
 * Manager and CloudWatch are Regional services whose endpoints do not fail with one AZ ("AWS
 * Fault Isolation Boundaries" whitepaper, "AWS service types": zonal and Regional services). An
 * agent cut off in the AZ is the separate agentOffline fault.
 */
import type { ServiceName } from './errors';
import type { LocalCloud } from './index';

const ID_FIELDS = ['InstanceId', 'VolumeId', 'NetworkInterfaceId', 'AvailabilityZone', 'SubnetId'];
const LIST_FIELDS = ['InstanceIds', 'VolumeIds', 'NetworkInterfaceIds', 'Resources', 'AlarmNames'];
const FILTERS = new Set([
  'instance-id',
  'attachment.instance-id',
  'volume-id',
  'network-interface-id',
  'availability-zone',
  'InstanceIds',
]);

export function zonesOfCall(
  cloud: LocalCloud,
  service: ServiceName,
  _operation: string,
  input: Record<string, unknown>,
): string[] {
  if (service !== 'ec2') return [];
  const ids: string[] = [];
  const add = (value: unknown): void => {
    if (typeof value === 'string') ids.push(value);
    else if (Array.isArray(value)) for (const v of value) add(v);
  };
  for (const field of ID_FIELDS) add(input[field]);
  for (const field of LIST_FIELDS) add(input[field]);
  add(input.AlarmName);
  for (const list of [input.Filters, input.InstanceInformationFilterList]) {
    if (!Array.isArray(list)) continue;
    for (const f of list as { Name?: string; Key?: string; Values?: unknown; valueSet?: unknown }[]) {
      if (FILTERS.has(f.Name ?? f.Key ?? '')) add(f.Values ?? f.valueSet);
    }
  }
  for (const d of Array.isArray(input.Dimensions)
    ? (input.Dimensions as { Name?: string; Value?: string }[])
    : []) {
    if (d.Name === 'InstanceId') add(d.Value);
  }
  const zones = new Set<string>();
  for (const raw of ids) {
    if (/^[a-z]{2}-[a-z]+-\d[a-z]$/.test(raw)) {
      zones.add(raw);
      continue;
    }
    const id = /(i-[0-9a-f]+)$/.exec(raw)?.[1] ?? raw; // a disk alarm's name ends in its instance id
    const zone =
      cloud.ec2.instance(id)?.availabilityZone ??
      cloud.ec2.volume(id)?.availabilityZone ??
      cloud.ec2.networkInterface(id)?.availabilityZone;
    if (zone) zones.add(zone);
  }
  return [...zones];
}

/** Starts a brownout of `zone` on the cloud's transport (every call touching it fails). */
export function startBrownout(cloud: LocalCloud, zone: string): void {
  cloud.faults.brownout = { zone, zonesOf: (s, o, i) => zonesOfCall(cloud, s, o, i) };
}

export function endBrownout(cloud: LocalCloud): void {
  cloud.faults.brownout = undefined;
}
