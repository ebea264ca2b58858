import { grow as handler } from '../../helpers/handlers';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import { alarmFires, growthFixture, grownVolumes, handlerSuite, nodeWithSet } from './grow-fixture';

describe('grow under EC2 eventual consistency', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  it('grows when DescribeVolumes does not know the volume CreateVolume just returned', async () => {
    // Prepare: for 5 s after CreateVolume, the new id answers InvalidVolume.NotFound
    fx = growthFixture();
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    fx.cloud.ec2.timing.consistencyMs = 5_000;
    // Act
    const result = await handler(await alarmFires(fx, instanceId));
    // Assess: the volume joined the node's filesystem
    expect(result).toMatchObject({ grown: true, mode: 'add-device' });
    const [grown] = grownVolumes(fx, instanceId);
    expect(grown?.tags['berth:grow-state']).toBe('joined');
  });
});
