import { handler } from '../../../lambdas/grow/index';
import { alarmName } from '../../../lambdas/shared/alarms';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import { alarmFires, growthFixture, grownVolumes, nodeWithSet } from './grow-fixture';

describe('the grow handler', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  it('adds a NodeID volume to a node whose alarm fires', async () => {
    // Prepare
    fx = growthFixture();
    restore = fx.plugHandlers();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    // Act
    const result = await handler(event);
    // Assess
    expect(result).toMatchObject({ grown: true, mode: 'add-device', sizeGiB: 150 });
    const [grown] = grownVolumes(fx, instanceId);
    expect(grown).toMatchObject({
      state: 'in-use',
      size: 150,
      volumeType: 'gp3',
      encrypted: true,
      tags: { NodeID: nodeId, 'berth:ordinal': '1', 'berth:group': fx.groupName, Service: 'etcd' },
    });
    expect(grown?.attachments[0]).toMatchObject({
      instanceId,
      state: 'attached',
      deleteOnTermination: false,
    });
    expect(fx.cloud.ssm.recorder.requestsFor('grow-filesystem.sh')[0]?.parameters).toMatchObject({
      Mode: 'add-device',
      VolumeId: grown?.volumeId,
      MountPoint: '/data',
    });
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
  });
});
