/**
 * `berth status`: what an operator needs to see of one group, read with the same code the handlers
 * use (sets listed by lambdas/aws/set-resources.ts and validated by lambdas/domain/node-sets.ts,
 * the group's instances and spares from lambdas/aws/group-instances.ts, half-attached as the
 * reconciler defines it). Read-only.
 */
import { isHalfAttached } from '../shared/set-states';
import { findVolumes } from '../aws/volumes';
import type { Deps } from '../shared/deps';
import { findSpares, groupInstances, type GroupInstance } from '../aws/group-instances';
import { inventory, setFilters } from '../aws/set-resources';
import { holders, isFree, primary, type NodeSet, type SetProblem } from '../domain/node-sets';
import { TAG_EXPAND_STATE, TAG_GROW_STATE, TAG_INSTANCE } from '../domain/growth-tags';

export type StatusDeps = Pick<Deps, 'ec2' | 'autoScaling' | 'clock' | 'settings' | 'logger'>;

export interface SetStatus {
  nodeId: string;
  availabilityZone: string;
  state: 'free' | 'held' | 'half-attached';
  /** The instance holding the primary volume, if any. */
  holder?: string;
  /** Its lifecycle state in the group, or `not in the group`. */
  holderState?: string;
  /** Why a half-attached set is half-attached: where each piece is. */
  reason?: string;
  volumes: { volumeId: string; sizeGiB: number }[];
  /** Undefined in a volume-only group. */
  networkInterfaceId?: string;
  privateIp?: string;
}

export interface GrowInFlight {
  volumeId: string;
  instanceId: string;
  mode: 'add-device' | 'expand';
  state: string;
  sizeGiB: number;
  /** Seconds since the volume was created (add-device) or the modification was tagged. */
  ageSeconds: number | undefined;
}

export interface StatusReport {
  group: string;
  instances: GroupInstance[];
  sets: SetStatus[];
  spares: string[];
  badSets: SetProblem[];
  growsInFlight: GrowInFlight[];
}

/** Where each piece of a half-attached set is, e.g. `vol-1 attached to i-a; eni-1 available`. */
export function halfAttachedReason(set: NodeSet): string {
  const pieces = [
    ...set.volumes.map((v) => ({ id: v.volumeId, on: v.attachedTo, how: v.attachState, state: v.state })),
    ...(set.eni
      ? [
          {
            id: set.eni.networkInterfaceId,
            on: set.eni.attachedTo,
            how: set.eni.attachState,
            state: set.eni.status,
          },
        ]
      : []),
  ];
  const where = pieces.map((p) =>
    p.on ? `${p.id} ${p.how ?? 'attached'} to ${p.on}` : `${p.id} ${p.state}`,
  );
  const many = holders(set).length > 1 ? `held by ${holders(set).join(' and ')}: ` : '';
  return `${many}${where.join('; ')}`;
}

/** The group's sets, spares, bad sets and grows in flight. */
export async function groupStatus(deps: StatusDeps): Promise<StatusReport> {
  const { settings } = deps;
  const [{ sets, problems }, instances] = await Promise.all([
    settings.nodeSets ? inventory(deps) : Promise.resolve({ sets: [], problems: [] }),
    groupInstances(deps),
  ]);
  const members = new Map(instances.map((i) => [i.instanceId, i]));
  const [spares, growing, expanding] = await Promise.all([
    findSpares(deps, { group: instances }),
    findVolumes(
      deps,
      [
        { name: `tag:${settings.ownerTagKey}`, values: [settings.groupName] },
        { name: `tag:${TAG_GROW_STATE}`, values: ['pending', 'joining'] },
      ],
      'grows in flight',
    ),
    settings.nodeSets
      ? findVolumes(
          deps,
          setFilters(settings, [{ Name: `tag:${TAG_EXPAND_STATE}`, Values: ['pending'] }]).map((f) => ({
            name: f.Name ?? '',
            values: f.Values ?? [],
          })),
          'expands in flight',
        )
      : Promise.resolve([]),
  ]);
  const now = deps.clock.now();
  const age = (at: number) => (at > 0 ? Math.round((now - at) / 1000) : undefined);
  return {
    group: settings.groupName,
    instances,
    sets: sets.map((set): SetStatus => {
      const holder = primary(set).attachedTo;
      const state = isFree(set) ? 'free' : isHalfAttached(set) ? 'half-attached' : 'held';
      return {
        nodeId: set.nodeId,
        availabilityZone: set.availabilityZone,
        state,
        ...(holder ? { holder, holderState: members.get(holder)?.lifecycleState ?? 'not in the group' } : {}),
        ...(state === 'half-attached' ? { reason: halfAttachedReason(set) } : {}),
        volumes: set.volumes.map((v) => ({ volumeId: v.volumeId, sizeGiB: v.sizeGiB })),
        ...(set.eni ? { networkInterfaceId: set.eni.networkInterfaceId, privateIp: set.eni.privateIp } : {}),
      };
    }),
    spares: spares.map((s) => s.instanceId),
    badSets: problems,
    growsInFlight: [
      ...growing.map((v) => ({
        volumeId: v.volumeId,
        instanceId: v.tags[TAG_INSTANCE] ?? v.attachments[0]?.instanceId ?? '',
        mode: 'add-device' as const,
        state: v.tags[TAG_GROW_STATE] ?? '',
        sizeGiB: v.sizeGiB,
        ageSeconds: age(v.createdAt),
      })),
      ...expanding.map((v) => ({
        volumeId: v.volumeId,
        instanceId: v.attachments[0]?.instanceId ?? '',
        mode: 'expand' as const,
        state: 'modifying',
        sizeGiB: v.sizeGiB,
        ageSeconds: undefined,
      })),
    ],
  };
}

/** The report as text: one section per kind, one line per item. */
export function formatStatus(report: StatusReport): string {
  const lines: string[] = [];
  const counts = (state: SetStatus['state']) => report.sets.filter((s) => s.state === state).length;
  lines.push(
    `group ${report.group}: ${report.instances.length} instances, ${report.sets.length} sets ` +
      `(${counts('held')} held, ${counts('free')} free, ${counts('half-attached')} half-attached), ` +
      `${report.spares.length} spares, ${report.badSets.length} bad sets, ${report.growsInFlight.length} grows in flight`,
  );
  lines.push('', 'SETS');
  if (report.sets.length === 0) lines.push('  (none)');
  for (const s of report.sets) {
    const size = s.volumes.reduce((n, v) => n + v.sizeGiB, 0);
    const held = s.holder ? ` ${s.holder} (${s.holderState})` : '';
    const eni = s.networkInterfaceId ? ` ${s.networkInterfaceId} ${s.privateIp}` : '';
    lines.push(
      `  ${s.nodeId} ${s.availabilityZone} ${s.state}${held}: ${s.volumes.length} volumes ${size} GiB${eni}`,
    );
    if (s.reason) lines.push(`    why: ${s.reason}`);
  }
  lines.push('', 'SPARES');
  lines.push(...(report.spares.length ? report.spares.map((id) => `  ${id}`) : ['  (none)']));
  lines.push('', 'BAD SETS');
  if (report.badSets.length === 0) lines.push('  (none)');
  for (const p of report.badSets) {
    lines.push(`  ${p.nodeId} ${p.problem} [${[...p.volumeIds, ...p.networkInterfaceIds].join(' ')}]`);
    lines.push(`    fix: ${p.fix}`);
  }
  lines.push('', 'GROWS IN FLIGHT');
  if (report.growsInFlight.length === 0) lines.push('  (none)');
  for (const g of report.growsInFlight) {
    const age = g.ageSeconds !== undefined ? `, ${g.ageSeconds} s old` : '';
    lines.push(`  ${g.instanceId} ${g.mode} ${g.volumeId} ${g.sizeGiB} GiB ${g.state}${age}`);
  }
  return `${lines.join('\n')}\n`;
}
