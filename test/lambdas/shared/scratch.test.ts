import { provisionScratch } from '../../../lambdas/shared/scratch';
import { growthFixture, runningInstance } from '../grow/grow-fixture';

describe('scratch volumes', () => {
  function scratchGroup() {
    return growthFixture(
      { scratch: { enabled: true, forSpares: false, sizeGiB: 20 } },
      { sets: 0, settings: { nodeSets: false, serviceUnit: 'batch.service' } },
    );
  }

  it('gives a set-less instance a 20 GiB encrypted btrfs /scratch that dies with it', async () => {
    // Prepare
    const fx = scratchGroup();
    const instanceId = await runningInstance(fx);
    // Act
    const scratch = await provisionScratch(fx.deps(), instanceId);
    // Assess
    const volume = fx.cloud.ec2.volume(scratch.volumeId);
    expect(volume).toMatchObject({
      size: 20,
      encrypted: true,
      volumeType: 'gp3',
      tags: { 'berth:group': fx.groupName, 'berth:instance': instanceId, 'berth:role': 'scratch' },
    });
    expect(Object.keys(volume?.tags ?? {}).some((k) => k.startsWith('aws:'))).toBe(false);
    expect(volume?.attachments[0]).toMatchObject({
      instanceId,
      state: 'attached',
      deleteOnTermination: true,
    });
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')[0]?.parameters).toMatchObject({
      VolumeIds: scratch.volumeId,
      MountPoint: '/scratch',
      Filesystem: 'btrfs',
      NodeId: '',
      NetworkInterfaceId: '',
      NodeIp: '',
      ServiceUnit: 'batch.service',
    });
  });

  it('is idempotent: a retried launch gets the same volume, attached once', async () => {
    // Prepare
    const fx = scratchGroup();
    const instanceId = await runningInstance(fx);
    const deps = fx.deps();
    // Act
    const first = await provisionScratch(deps, instanceId);
    const second = await provisionScratch(deps, instanceId);
    // Assess
    expect(second.volumeId).toBe(first.volumeId);
    expect(fx.cloud.ec2.volumes().filter((v) => v.tags['berth:role'] === 'scratch')).toHaveLength(1);
    expect(fx.cloud.accounting.count('ec2:AttachVolume')).toBe(1);
  });

  it('deletes the volume when it cannot be attached', async () => {
    // Prepare
    const fx = scratchGroup();
    const instanceId = await runningInstance(fx);
    fx.cloud.faults.failNext('AttachVolume', 'UnauthorizedOperation');
    // Act
    const outcome = provisionScratch(fx.deps(), instanceId);
    // Assess
    await expect(outcome).rejects.toThrow('UnauthorizedOperation');
    expect(
      fx.cloud.ec2
        .volumes()
        .filter((v) => v.tags['berth:role'] === 'scratch' && v.state !== 'deleted' && v.state !== 'deleting'),
    ).toHaveLength(0);
  });

  it('refuses when scratch is not enabled', async () => {
    // Prepare
    const fx = growthFixture();
    const instanceId = await runningInstance(fx);
    // Act / Assess
    await expect(provisionScratch(fx.deps(), instanceId)).rejects.toThrow('growth.scratch is not enabled');
  });
});
