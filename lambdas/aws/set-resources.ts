/**
 * Node sets at the AWS boundary: finding them uses server-side filters only (tag-key, status,
 * availability-zone, the group's filters) with pagination, so the cost of a launch does not depend
 * on how many sets exist. Converts the SDK's Volume and NetworkInterface to the domain's records.
 */
import {
  DescribeVolumesCommand,
  type Filter,
  type NetworkInterface,
  type Volume,
  paginateDescribeNetworkInterfaces,
  paginateDescribeVolumes,
} from '@aws-sdk/client-ec2';
import { TAG_GROW_STATE } from '../domain/growth-tags';
import {
  groupSets,
  validateSet,
  type NodeSet,
  type SetCheck,
  type SetInterface,
  type SetProblem,
  type SetVolume,
} from '../domain/node-sets';
import type { Deps } from '../shared/deps';
import { classify } from '../shared/errors';
import { toEc2Filters } from '../shared/filters';
import { tagMap } from './calls';

type ReadDeps = Pick<Deps, 'ec2' | 'clock' | 'settings'>;

function toSetVolume(v: Volume, nodeIdTagKey: string, ordinalTagKey: string): SetVolume {
  const tags = tagMap(v.Tags);
  const rawOrdinal = tags[ordinalTagKey];
  const ordinal = rawOrdinal !== undefined && /^\d{1,4}$/.test(rawOrdinal) ? Number(rawOrdinal) : undefined;
  const attachment = v.Attachments?.find((a) => a.State !== 'detached');
  return {
    volumeId: v.VolumeId ?? '',
    nodeId: tags[nodeIdTagKey] ?? '',
    ordinal: rawOrdinal === undefined ? undefined : (ordinal ?? -1),
    availabilityZone: v.AvailabilityZone ?? '',
    state: v.State ?? 'unknown',
    sizeGiB: v.Size ?? 0,
    attachedTo: attachment?.InstanceId,
    attachState: attachment?.State,
    device: attachment?.Device,
    attachTime: attachment?.AttachTime ? new Date(attachment.AttachTime).getTime() : undefined,
    growState: tags[TAG_GROW_STATE],
  };
}

function toSetInterface(n: NetworkInterface, nodeIdTagKey: string): SetInterface {
  const tags = tagMap(n.TagSet);
  const attached = n.Attachment && n.Attachment.Status !== 'detached' ? n.Attachment : undefined;
  return {
    networkInterfaceId: n.NetworkInterfaceId ?? '',
    nodeId: tags[nodeIdTagKey] ?? '',
    availabilityZone: n.AvailabilityZone ?? '',
    vpcId: n.VpcId ?? '',
    subnetId: n.SubnetId ?? '',
    status: n.Status ?? 'unknown',
    privateIp: n.PrivateIpAddress ?? '',
    macAddress: n.MacAddress ?? '',
    attachedTo: attached?.InstanceId,
    attachState: attached?.Status,
    deviceIndex: attached?.DeviceIndex,
  };
}

/** Filters every set query starts with: the NodeID tag exists, plus the group's own filters. */
export function setFilters(settings: Deps['settings'], extra: Filter[] = []): Filter[] {
  return [
    { Name: 'tag-key', Values: [settings.nodeIdTagKey] },
    ...toEc2Filters(settings.parsedFilters),
    ...extra,
  ];
}

/** One page of set volumes matching the filters (DescribeVolumes allows 5–500 per page). */
export async function setVolumesPage(
  deps: ReadDeps,
  extra: Filter[],
  nextToken?: string,
  maxResults = 500,
): Promise<{ volumes: SetVolume[]; nextToken?: string }> {
  try {
    const out = await deps.ec2.send(
      new DescribeVolumesCommand({
        Filters: setFilters(deps.settings, extra),
        MaxResults: maxResults,
        ...(nextToken ? { NextToken: nextToken } : {}),
      }),
    );
    return {
      volumes: (out.Volumes ?? []).map((v) =>
        toSetVolume(v, deps.settings.nodeIdTagKey, deps.settings.ordinalTagKey),
      ),
      ...(out.NextToken ? { nextToken: out.NextToken } : {}),
    };
  } catch (error) {
    throw classify(error, 'DescribeVolumes (node sets)');
  }
}

/** Every set volume matching the filters (all pages, the SDK's paginator). */
export async function listSetVolumes(deps: ReadDeps, extra: Filter[] = []): Promise<SetVolume[]> {
  const { nodeIdTagKey, ordinalTagKey } = deps.settings;
  const all: SetVolume[] = [];
  try {
    const pages = paginateDescribeVolumes(
      { client: deps.ec2, pageSize: 500 },
      { Filters: setFilters(deps.settings, extra) },
    );
    for await (const page of pages)
      all.push(...(page.Volumes ?? []).map((v) => toSetVolume(v, nodeIdTagKey, ordinalTagKey)));
  } catch (error) {
    throw classify(error, 'DescribeVolumes (node sets)');
  }
  return all;
}

/** Every set ENI matching the filters (all pages; DescribeNetworkInterfaces allows 5–1000). */
export async function listSetInterfaces(deps: ReadDeps, extra: Filter[] = []): Promise<SetInterface[]> {
  const all: SetInterface[] = [];
  try {
    const pages = paginateDescribeNetworkInterfaces(
      { client: deps.ec2, pageSize: 1000 },
      { Filters: setFilters(deps.settings, extra) },
    );
    for await (const page of pages)
      all.push(...(page.NetworkInterfaces ?? []).map((n) => toSetInterface(n, deps.settings.nodeIdTagKey)));
  } catch (error) {
    throw classify(error, 'DescribeNetworkInterfaces (node sets)');
  }
  return all;
}

/** One NodeID's resources, described by its tag value (two calls whatever the number of sets). */
export async function describeSet(deps: ReadDeps, nodeId: string): Promise<SetCheck> {
  const byTag: Filter = { Name: `tag:${deps.settings.nodeIdTagKey}`, Values: [nodeId] };
  const volumeOnly = deps.settings.volumeOnly === true;
  const [volumes, interfaces] = await Promise.all([
    listSetVolumes(deps, [byTag]),
    volumeOnly ? [] : listSetInterfaces(deps, [byTag]),
  ]);
  return validateSet(
    nodeId,
    volumes.filter((v) => v.nodeId === nodeId),
    interfaces.filter((n) => n.nodeId === nodeId),
    deps.settings.ordinalTagKey,
    volumeOnly,
  );
}

/** Every set of the group (reconcile, gauges): two paginated listings. */
export async function inventory(deps: ReadDeps): Promise<{ sets: NodeSet[]; problems: SetProblem[] }> {
  const volumeOnly = deps.settings.volumeOnly === true;
  const [volumes, interfaces] = await Promise.all([
    listSetVolumes(deps),
    volumeOnly ? [] : listSetInterfaces(deps),
  ]);
  return groupSets(volumes, interfaces, deps.settings.ordinalTagKey, volumeOnly);
}

/** Whether berth attached a volume of its own (scratch, grown) to the instance. */
export async function holdsOwnVolume(deps: Deps, instanceId: string): Promise<boolean> {
  const out = await deps.ec2.send(
    new DescribeVolumesCommand({
      Filters: [
        { Name: 'attachment.instance-id', Values: [instanceId] },
        { Name: `tag:${deps.settings.ownerTagKey}`, Values: [deps.settings.groupName] },
      ],
    }),
  );
  return (out.Volumes ?? []).length > 0;
}
