/**
 * The reconciler lists the set volumes once per run (one DescribeVolumes page per 500 volumes),
 * and again only after the run changed an attachment, for what comes after it.
 */
import { DetachNetworkInterfaceCommand } from '@aws-sdk/client-ec2';
import { launchNode } from '../../../lambdas/launch/core';
import { reconcile } from '../../../lambdas/reconcile/core';
import { parseLifecycleEvent } from '../../../lambdas/shared/events';
import { CloudFixture } from '../../helpers/cloud-fixture';

/** The DescribeVolumes calls of one run that list the set volumes (by the NodeID tag key). */
async function setVolumeListings(fx: CloudFixture): Promise<number> {
  fx.cloud.accounting.log = [];
  fx.cloud.accounting.keepLog = true;
  await reconcile(fx.deps());
  fx.cloud.accounting.keepLog = false;
  return fx.cloud.accounting.log.filter((c) => {
    const filters = (c.input as { Filters?: { Name?: string; Values?: string[] }[] }).Filters ?? [];
    return (
      c.operation === 'DescribeVolumes' &&
      filters.length === 2 && // tag-key NodeID and the group's filter: the whole listing
      filters.some((f) => f.Name === 'tag-key' && f.Values?.includes(fx.settings.nodeIdTagKey))
    );
  }).length;
}

async function nodes(sets: number): Promise<CloudFixture> {
  const fx = new CloudFixture({ sets, settings: { growth: {} } });
  fx.launch(sets);
  const deps = fx.deps();
  await Promise.all(fx.launchEvents().map((e) => launchNode(deps, parseLifecycleEvent(e, 'launch'))));
  await fx.cloud.clock.sleep(3_600_000);
  await reconcile(deps);
  return fx;
}

describe('the reconciler lists the set volumes once per run', () => {
  it('lists them once in a run that changes nothing, and once more after a run that healed a set', async () => {
    // Prepare: three nodes, healthy
    const fx = await nodes(3);
    // Act + Assess: a healthy run
    expect(await setVolumeListings(fx)).toBe(1);
    // Prepare: a node loses its ENI
    const set = fx.sets[0];
    const eni = fx.cloud.ec2
      .networkInterfaces()
      .find((e) => e.networkInterfaceId === set?.networkInterfaceId);
    await fx.clients.ec2.send(
      new DetachNetworkInterfaceCommand({ AttachmentId: eni?.attachment?.attachmentId ?? '' }),
    );
    await fx.cloud.clock.sleep(60_000);
    // Act + Assess: the run that heals it lists again after healing, once
    expect(await setVolumeListings(fx)).toBe(2);
    expect(
      fx.cloud.ec2.networkInterfaces().find((e) => e.networkInterfaceId === set?.networkInterfaceId)
        ?.attachment,
    ).toBeDefined();
  });
});
