import { grow as handler } from '../../helpers/handlers';
import { alarmName } from '../../../lambdas/shared/alarm-names';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import { alarmFires, growthFixture, grownVolumes, nodeWithSet, handlerSuite } from './grow-fixture';

/** The in-place strategy: ModifyVolume, wait for optimizing, grow-filesystem expand. */
describe('the grow handler with the expand strategy', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  async function node(filesystem: 'btrfs' | 'ext4' | 'xfs', growth = {}) {
    fx = growthFixture(
      { strategy: 'expand', cooldownSeconds: 0, ...growth },
      { settings: { filesystem }, volumesPerSet: 2 },
    );
    handlers.plug(fx);
    return nodeWithSet(fx);
  }

  /** Grows once per trigger, each after the previous modification completed. */
  async function growTimes(instanceId: string, n: number) {
    const results = [];
    for (let i = 0; i < n; i++) {
      results.push(await handler({ instanceId, reason: `r${i}` }, { awsRequestId: `r${i}` }));
      fx.cloud.clock.advance(120_000);
    }
    return results;
  }

  it.each(['ext4', 'xfs', 'btrfs'] as const)(
    "enlarges the set's primary volume of a %s node in place",
    async (filesystem) => {
      // Prepare
      const { instanceId, nodeId } = await node(filesystem);
      const primary = fx.sets.find((s) => s.nodeId === nodeId)?.volumeIds[0] ?? '';
      // Act
      const result = await handler(await alarmFires(fx, instanceId));
      // Assess
      expect(result).toMatchObject({ grown: true, mode: 'expand', volumeId: primary, sizeGiB: 150 });
      expect(fx.cloud.ec2.volume(primary)?.size).toBe(160);
      expect(fx.cloud.ssm.recorder.requestsFor('grow-filesystem.sh')[0]?.parameters).toMatchObject({
        Mode: 'expand',
        VolumeId: primary,
      });
      expect(grownVolumes(fx, instanceId)).toHaveLength(0);
    },
  );

  it('runs grow-filesystem only once the modification is optimizing', async () => {
    // Prepare
    const { instanceId } = await node('xfs');
    fx.cloud.ec2.timing.modifyingMs = 90_000;
    const started = fx.cloud.clock.now();
    // Act
    await handler(await alarmFires(fx, instanceId));
    // Assess
    const sent = fx.cloud.accounting.count('ssm:SendCommand');
    expect(sent).toBe(1);
    expect(fx.cloud.clock.now() - started).toBeGreaterThanOrEqual(90_000);
  });

  it('refuses a fifth modification within 24 h on ext4 without calling ModifyVolume', async () => {
    // Prepare
    const { instanceId } = await node('ext4');
    await growTimes(instanceId, 4);
    const modifies = fx.cloud.accounting.count('ec2:ModifyVolume');
    // Act
    const [fifth] = await growTimes(instanceId, 1);
    // Assess
    expect(modifies).toBe(4);
    expect(fifth).toMatchObject({
      grown: false,
      refused: 'modification-rate',
      figures: { modificationsIn24h: 4 },
    });
    expect(fx.cloud.accounting.count('ec2:ModifyVolume')).toBe(4);
  });

  it('refuses on xfs when EC2 itself refuses the modification (one per 6 h)', async () => {
    // Prepare
    const { instanceId } = await node('xfs');
    fx.cloud.ec2.modificationRule = 'one-per-6h';
    // Act
    const [first, second] = await growTimes(instanceId, 2);
    // Assess
    expect(first?.grown).toBe(true);
    expect(second).toMatchObject({ grown: false, refused: 'modification-rate' });
  });

  it('falls back to adding a device on btrfs after 4 modifications in 24 h', async () => {
    // Prepare
    const { instanceId } = await node('btrfs');
    await growTimes(instanceId, 4);
    // Act
    const [fifth] = await growTimes(instanceId, 1);
    // Assess
    expect(fifth).toMatchObject({ grown: true, mode: 'add-device' });
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
  });

  it('falls back to adding a device on btrfs while the previous modification is still optimizing', async () => {
    // Prepare
    const { instanceId } = await node('btrfs');
    fx.cloud.ec2.timing.optimizingMs = 6 * 3600_000;
    const first = await handler({ instanceId, reason: 'a' }, { awsRequestId: 'a' });
    // Act
    const second = await handler({ instanceId, reason: 'b' }, { awsRequestId: 'b' });
    // Assess
    expect(first).toMatchObject({ grown: true, mode: 'expand' });
    expect(second).toMatchObject({ grown: true, mode: 'add-device' });
  });

  it('refuses on ext4 while the previous modification is optimizing, and re-arms the alarm', async () => {
    // Prepare
    const { instanceId } = await node('ext4');
    fx.cloud.ec2.timing.optimizingMs = 6 * 3600_000;
    await handler(await alarmFires(fx, instanceId));
    // Act
    const second = await handler(await alarmFires(fx, instanceId));
    // Assess
    expect(second).toMatchObject({ grown: false, refused: 'modification-in-progress' });
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
    expect(fx.cloud.accounting.count('ec2:ModifyVolume')).toBe(1);
  });

  it('enlarges once for a duplicated trigger (EC2 admits one modification at a time)', async () => {
    // Prepare
    const { instanceId } = await node('ext4');
    const event = await alarmFires(fx, instanceId);
    // Act
    const results = await Promise.all([handler(event), handler(structuredClone(event))]);
    // Assess
    expect(results.filter((r) => r.grown)).toHaveLength(1);
    expect(results.find((r) => !r.grown)?.refused).toBe('in-flight');
    expect(fx.cloud.ec2.volume(fx.sets[0]?.volumeIds[0] ?? '')?.size).toBe(160);
  });
});
