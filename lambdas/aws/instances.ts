/**
 * EC2 instances at the AWS boundary, for the flows in this layer's care (the launch-owned
 * lambdas/aws/group-instances.ts holds the launch flow's instance calls). Retries are the SDK's.
 */
import { paginateDescribeInstances } from '@aws-sdk/client-ec2';
import type { Deps } from '../shared/deps';
import { classify } from '../shared/errors';

/** DescribeInstances takes at most 200 values per filter. */
const IDS_PER_CALL = 200;

/** Instances (of any state) that still exist, by id; terminated ones count as gone. */
export async function liveInstances(deps: Pick<Deps, 'ec2'>, ids: readonly string[]): Promise<Set<string>> {
  const live = new Set<string>();
  for (let i = 0; i < ids.length; i += IDS_PER_CALL) {
    const chunk = ids.slice(i, i + IDS_PER_CALL);
    try {
      // A filter (not InstanceIds) so that an unknown id is just absent, not an error.
      const pages = paginateDescribeInstances(
        { client: deps.ec2 },
        { Filters: [{ Name: 'instance-id', Values: [...chunk] }] },
      );
      for await (const page of pages) {
        for (const r of page.Reservations ?? []) {
          for (const inst of r.Instances ?? []) {
            if (inst.InstanceId && inst.State?.Name !== 'terminated') live.add(inst.InstanceId);
          }
        }
      }
    } catch (error) {
      throw classify(error, `DescribeInstances (${chunk.length} owners)`);
    }
  }
  return live;
}
