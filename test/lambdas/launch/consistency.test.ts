import { launch as handler } from '../../helpers/handlers';
import { LAUNCH_EVENT, pluggedFixtures } from '../../helpers/cloud-fixture';

describe('launch under EC2 eventual consistency', () => {
  const fixture = pluggedFixtures();

  it('waits for a Pending:Wait instance that EC2 does not know yet instead of abandoning it', async () => {
    // Prepare: for 5 s after the launch, DescribeInstances answers InvalidInstanceID.NotFound
    const fx = fixture({ sets: 1 });
    fx.cloud.ec2.timing.consistencyMs = 5_000;
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    // Act
    const outcome = await handler(event);
    // Assess: the instance became a node; no ABANDON
    expect(outcome).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId });
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
  });

  it('still takes an instance EC2 never knows for vanished, after the consistency window', async () => {
    // Prepare: the instance stays invisible longer than the window
    const fx = fixture({ sets: 1 });
    fx.cloud.ec2.timing.consistencyMs = 120_000;
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await handler(event);
    // Assess: gave up within the window (30 s and the last backoff)
    expect(outcome).toMatchObject({ result: 'vanished' });
    expect(fx.cloud.clock.now() - started).toBeLessThan(40_000);
  });
});
