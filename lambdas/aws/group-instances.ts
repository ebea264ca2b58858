/**
 * The group's instances as Auto Scaling sees them (lifecycle states), what each holds, and the
 * NodeID tag berth writes on an instance that holds a set.
 */
import { DescribeAutoScalingGroupsCommand } from '@aws-sdk/client-auto-scaling';
import { CreateTagsCommand, type Filter, paginateDescribeInstances } from '@aws-sdk/client-ec2';
import { tagMap } from './calls';
import type { Deps } from '../shared/deps';
import { TAG_PREPARED } from '../domain/growth-tags';
import { ASG_NAME_TAG } from '../shared/contract';
import { classify } from '../shared/errors';
import { listSetVolumes } from './set-resources';
import { type SetVolume } from '../domain/node-sets';

type ReadDeps = Pick<Deps, 'ec2' | 'autoScaling' | 'clock' | 'settings'>;

export interface GroupInstance {
  instanceId: string;
  availabilityZone: string;
  /** Pending | Pending:Wait | Pending:Proceed | InService | Terminating | Terminating:Wait | … */
  lifecycleState: string;
  healthStatus: string;
}

/** The group's instances (one DescribeAutoScalingGroups call: it lists every instance). */
export async function groupInstances(deps: ReadDeps): Promise<GroupInstance[]> {
  try {
    const out = await deps.autoScaling.send(
      new DescribeAutoScalingGroupsCommand({ AutoScalingGroupNames: [deps.settings.groupName] }),
    );
    const group = out.AutoScalingGroups?.find((g) => g.AutoScalingGroupName === deps.settings.groupName);
    return (group?.Instances ?? []).flatMap((i) =>
      i.InstanceId
        ? [
            {
              instanceId: i.InstanceId,
              availabilityZone: i.AvailabilityZone ?? '',
              lifecycleState: i.LifecycleState ?? '',
              healthStatus: i.HealthStatus ?? '',
            },
          ]
        : [],
    );
  } catch (error) {
    throw classify(error, `DescribeAutoScalingGroups ${deps.settings.groupName}`);
  }
}

export const isTerminatingState = (state: string): boolean => state.startsWith('Terminating');
export const isPendingState = (state: string): boolean => state.startsWith('Pending');

/** Set volumes attached (in any attachment state) to these instances, by instance. */
export async function setVolumesOn(
  deps: ReadDeps,
  instanceIds: readonly string[],
): Promise<Map<string, SetVolume[]>> {
  const out = new Map<string, SetVolume[]>();
  for (let i = 0; i < instanceIds.length; i += 199) {
    const chunk = instanceIds.slice(i, i + 199);
    const volumes = await listSetVolumes(deps, [{ Name: 'attachment.instance-id', Values: [...chunk] }]);
    for (const v of volumes) {
      if (!v.attachedTo || !chunk.includes(v.attachedTo)) continue;
      out.set(v.attachedTo, [...(out.get(v.attachedTo) ?? []), v]);
    }
  }
  return out;
}

/**
 * When one instance holds primaries of several sets (two runs of one launch raced: a duplicated
 * event delivered at once), the set to keep: the primary attached first, then the lowest NodeID.
 * Every run that looks after both attachments agrees on it.
 */
export async function setToKeep(
  deps: ReadDeps,
  instanceId: string,
): Promise<{ keep: string; others: string[] } | undefined> {
  return keepOf((await setVolumesOn(deps, [instanceId])).get(instanceId) ?? []);
}

/** The set to keep among the set volumes one instance holds (see setToKeep); pure. */
export function keepOf(held: readonly SetVolume[]): { keep: string; others: string[] } | undefined {
  const primaries = held
    .filter((v) => (v.ordinal ?? 0) === 0)
    .sort(
      (a, b) =>
        (a.attachTime ?? 0) - (b.attachTime ?? 0) || (a.nodeId < b.nodeId ? -1 : a.nodeId > b.nodeId ? 1 : 0),
    );
  const ids = [...new Set(primaries.map((v) => v.nodeId))];
  const [keep, ...others] = ids;
  return keep === undefined ? undefined : { keep, others };
}

/** The NodeIDs whose volumes are attached to the instance (normally zero or one). */
export async function heldNodeIds(deps: ReadDeps, instanceId: string): Promise<string[]> {
  const held = (await setVolumesOn(deps, [instanceId])).get(instanceId) ?? [];
  return [...new Set(held.map((v) => v.nodeId))].sort();
}

/** Writes one tag on an instance (CreateTags overwrites: idempotent). */
async function tagInstance(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings'>,
  instanceId: string,
  key: string,
  value: string,
): Promise<void> {
  try {
    await deps.ec2.send(
      new CreateTagsCommand({ Resources: [instanceId], Tags: [{ Key: key, Value: value }] }),
    );
  } catch (error) {
    throw classify(error, `CreateTags ${instanceId} ${key}=${value}`);
  }
}

/** Tags the instance with its NodeID. */
export async function tagInstanceNode(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings'>,
  instanceId: string,
  nodeId: string,
): Promise<void> {
  await tagInstance(deps, instanceId, deps.settings.nodeIdTagKey, nodeId);
}

/**
 * Records that prepare-node succeeded on the instance for this set (`berth:prepared=<NodeID>`),
 * written only after success: the reconciler tells a node from a holder that was never prepared
 * (or whose set changed since) without asking the host. With `withNodeId`, the NodeID tag is
 * written in the same CreateTags call (one request instead of two).
 */
export async function tagInstancePrepared(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings'>,
  instanceId: string,
  nodeId: string,
  options: { withNodeId?: boolean } = {},
): Promise<void> {
  if (!options.withNodeId) return tagInstance(deps, instanceId, TAG_PREPARED, nodeId);
  const tags = [
    { Key: deps.settings.nodeIdTagKey, Value: nodeId },
    { Key: TAG_PREPARED, Value: nodeId },
  ];
  try {
    await deps.ec2.send(new CreateTagsCommand({ Resources: [instanceId], Tags: tags }));
  } catch (error) {
    throw classify(error, `CreateTags ${instanceId} NodeID and ${TAG_PREPARED}=${nodeId}`);
  }
}

export interface InstanceNodeTags {
  state: string;
  /** The NodeID tag: the set the instance claimed. */
  nodeId: string | undefined;
  /** The set prepare-node last succeeded for (`berth:prepared`). */
  prepared: string | undefined;
}

/**
 * NodeID and prepared tags of these instances, or of every instance of the group (`'group'`: one
 * DescribeInstances listing filtered server-side on the Auto Scaling group tag, whatever the group's
 * size); ids are asked 199 per call (the filter's value limit).
 */
export async function instanceNodeTags(
  deps: Pick<Deps, 'ec2' | 'clock' | 'settings'>,
  select: readonly string[] | 'group',
): Promise<Map<string, InstanceNodeTags>> {
  const out = new Map<string, InstanceNodeTags>();
  const filterSets: Filter[][] = [];
  if (select === 'group')
    filterSets.push([{ Name: `tag:${ASG_NAME_TAG}`, Values: [deps.settings.groupName] }]);
  else
    for (let i = 0; i < select.length; i += 199)
      filterSets.push([{ Name: 'instance-id', Values: select.slice(i, i + 199) }]);
  for (const filters of filterSets) {
    try {
      const pages = paginateDescribeInstances({ client: deps.ec2, pageSize: 1000 }, { Filters: filters });
      for await (const page of pages)
        for (const instance of (page.Reservations ?? []).flatMap((r) => r.Instances ?? [])) {
          if (!instance.InstanceId) continue;
          const tags = tagMap(instance.Tags);
          out.set(instance.InstanceId, {
            state: instance.State?.Name ?? 'unknown',
            nodeId: tags[deps.settings.nodeIdTagKey],
            prepared: tags[TAG_PREPARED],
          });
        }
    } catch (error) {
      throw classify(error, 'DescribeInstances (group)');
    }
  }
  return out;
}

/**
 * Spares: InService instances of the group (or Pending:Proceed: their launch completed, they still
 * boot) that hold no set piece and carry no NodeID tag, optionally in one AZ. Sorted by id.
 */
export async function findSpares(
  deps: ReadDeps,
  options: {
    availabilityZone?: string;
    group?: GroupInstance[];
    /** Already known (the reconciler lists the group's instances and set volumes once per run). */
    tags?: Map<string, InstanceNodeTags>;
    held?: ReadonlySet<string>;
  } = {},
): Promise<GroupInstance[]> {
  const group = options.group ?? (await groupInstances(deps));
  const candidates = group.filter(
    (i) =>
      (i.lifecycleState === 'InService' || i.lifecycleState === 'Pending:Proceed') &&
      (options.availabilityZone === undefined || i.availabilityZone === options.availabilityZone),
  );
  if (candidates.length === 0) return [];
  const ids = candidates.map((i) => i.instanceId);
  const [tags, held] = await Promise.all([
    options.tags ?? instanceNodeTags(deps, ids),
    options.held ?? setVolumesOn(deps, ids),
  ]);
  return candidates
    .filter((i) => {
      const t = tags.get(i.instanceId);
      return (
        t !== undefined &&
        (t.state === 'running' || t.state === 'pending') &&
        !t.nodeId &&
        !held.has(i.instanceId)
      );
    })
    .sort((a, b) => (a.instanceId < b.instanceId ? -1 : 1));
}
