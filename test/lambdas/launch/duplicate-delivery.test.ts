import { launch as handler } from '../../helpers/handlers';
import { CloudFixture, pluggedFixtures, LAUNCH_EVENT } from '../../helpers/cloud-fixture';

/** A Lambda context whose invocation ends `ms` after it starts (virtual time). */
function contextOf(fx: CloudFixture, ms: number) {
  const start = fx.cloud.clock.now();
  return { getRemainingTimeInMillis: () => start + ms - fx.cloud.clock.now() };
}

const settle = <T>(p: Promise<T>) =>
  p.then(
    (outcome) => ({ outcome, error: undefined as unknown }),
    (error: unknown) => ({ outcome: undefined, error }),
  );

describe('two deliveries of one launch event running at once', () => {
  const fixture = pluggedFixtures();

  it('the run that lost the primary to the other, cut at its deadline before prepare-node, detaches nothing and does not abandon', async () => {
    // Prepare: one set of two volumes; the first delivery attaches the primary first (it calls
    // first); the second has only 150 s (its waits end 30 s in, before the agent is due)
    const fx = fixture({ sets: 1, volumesPerSet: 2 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    // Act
    const [winner, loser] = await Promise.all(
      [900_000, 150_000].map((ms) => settle(handler(structuredClone(event), contextOf(fx, ms)))),
    );
    // Assess: nothing of the set was detached, the action was not abandoned, the winner made the node
    expect(loser?.outcome).toBeUndefined();
    expect(String(loser?.error)).toMatch(/another run of this launch/);
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.cloud.accounting.count('ec2:DetachNetworkInterface')).toBe(0);
    expect(winner?.outcome).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId });
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
    expect(fx.attachedVolumes(instanceId)).toEqual([...(fx.sets[0]?.volumeIds ?? [])].sort());
  });

  it("only the run holding the claim prepares the set; the other one's retry finds the node ready", async () => {
    // Prepare: both deliveries with the full 900 s
    const fx = fixture({ sets: 1, volumesPerSet: 2 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    // Act
    const [first, second] = await Promise.all(
      [900_000, 900_000].map((ms) => settle(handler(structuredClone(event), contextOf(fx, ms)))),
    );
    await fx.cloud.clock.sleep(60_000);
    const retried = await handler(structuredClone(event), contextOf(fx, 900_000));
    // Assess
    expect(first?.outcome).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId });
    expect(String(second?.error)).toMatch(/another run of this launch/);
    expect(retried).toMatchObject({ result: 'duplicate', lifecycleState: 'InService' });
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')).toHaveLength(1);
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });
});
