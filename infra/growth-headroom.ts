/**
 * The growth headroom check at synth (side-effect free): from the race model of
 * lambdas/grow/headroom.ts, whether the group's growth settings keep up with a writer at the
 * volumes' provisioned throughput at every size tier, starting from the smallest first volume the
 * group will have (the smallest node set created here, or the scratch volume). Sets tagged by
 * hand have sizes unknown at synth: nothing to check then.
 */
import { Token } from 'aws-cdk-lib';
import type { Settings } from '../lambdas/shared/config';
import { headroomWarning } from '../lambdas/domain/growth-headroom';
import type { NodeSpecInput } from './defaults';

/** The id of the construct's warning (acknowledge it with Annotations.acknowledgeWarning). */
export const HEADROOM_WARNING_ID = 'berth:growth-headroom';

/** The smallest first volume of a node's filesystem, when known at synth. */
export function firstVolumeGiB(settings: Settings, nodes: readonly NodeSpecInput[]): number | undefined {
  const growth = settings.growth;
  if (!growth) return undefined;
  const sizes = nodes.map((n) => n.volumeSizeGiB).filter((size) => !Token.isUnresolved(size));
  if (growth.scratch.enabled && (!settings.nodeSets || growth.scratch.forSpares))
    sizes.push(growth.scratch.sizeGiB);
  return sizes.length > 0 ? Math.min(...sizes) : undefined;
}

/** The warning's text, or undefined when growth keeps up (or there is nothing to check). */
export function growthHeadroomMessage(
  settings: Settings,
  nodes: readonly NodeSpecInput[],
): string | undefined {
  const first = firstVolumeGiB(settings, nodes);
  if (!settings.growth || first === undefined) return undefined;
  return headroomWarning(settings.growth, first)?.message;
}
