import { launch as handler } from '../../helpers/handlers';
import {
  CloudFixture,
  pluggedFixtures,
  type FixtureOptions,
  LAUNCH_EVENT,
} from '../../helpers/cloud-fixture';

/** A Lambda context whose invocation ends `ms` after it starts (virtual time). */
function contextOf(fx: CloudFixture, ms: number) {
  const start = fx.cloud.clock.now();
  return { getRemainingTimeInMillis: () => start + ms - fx.cloud.clock.now() };
}

describe('launch handler within the Lambda deadline', () => {
  let fx: CloudFixture;
  const fixture = pluggedFixtures();

  function setup(options: FixtureOptions = {}): CloudFixture {
    fx = fixture(options);
    return fx;
  }

  it('ends before the 900 s deadline while prepare-node runs, and the retried invocation waits for that command instead of sending another', async () => {
    // Prepare: a slow agent (online 400 s after boot) and a prepare-node that runs 500 s
    setup({ sets: 1, volumesPerSet: 2 });
    fx.cloud.ssm.agentOnlineDelayMs = 400_000;
    fx.cloud.ssm.recorder.respond('prepare-node.sh', { durationMs: 500_000 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    const started = fx.cloud.clock.now();
    // Act: the first invocation
    const first = await handler(event, contextOf(fx, 900_000)).then(
      (outcome) => ({ outcome, error: undefined }),
      (error: unknown) => ({ outcome: undefined, error }),
    );
    const firstEnded = fx.cloud.clock.now();
    // Assess: it stopped in time, left the command running and the action open
    expect(firstEnded - started).toBeLessThanOrEqual(900_000);
    expect(first.outcome).toBeUndefined();
    expect(String(first.error)).toMatch(/deadline/);
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')).toHaveLength(1);
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('Pending:Wait');
    expect(fx.attachedVolumes(instanceId)).toEqual([...(fx.sets[0]?.volumeIds ?? [])].sort());
    // Act: Lambda retries the invocation (about a minute later)
    await fx.cloud.clock.sleep(60_000);
    const retried = await handler(event, contextOf(fx, 900_000));
    // Assess: one prepare-node in all, and the node is ready
    expect(retried).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId, resumed: true });
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')).toHaveLength(1);
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
  });

  it('abandons within the deadline, detaching what it attached, when the agent never comes online', async () => {
    // Prepare: an agent that stays offline past the invocation
    setup({ sets: 1 });
    fx.cloud.ssm.agentOnlineDelayMs = 3_600_000;
    const [instanceId = ''] = fx.launch(1);
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await handler(fx.takeEvent(LAUNCH_EVENT, instanceId), contextOf(fx, 900_000));
    // Assess
    expect(fx.cloud.clock.now() - started).toBeLessThanOrEqual(900_000);
    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(fx.cloud.ssm.recorder.requestsFor('prepare-node.sh')).toHaveLength(0);
    expect(fx.attachedVolumes(instanceId)).toEqual([]);
    expect(fx.cloud.ec2.volume(fx.sets[0]?.volumeIds[0] ?? '')?.state).toBe('available');
  });

  it("a retried invocation late in the action's life beats the hook at once: runs that died before their first heartbeat do not let it time out", async () => {
    // Prepare: earlier invocations died without a heartbeat; the retry starts 600 s into the
    // action (900 s heartbeat timeout) and its prepare-node takes 400 s
    setup({ sets: 1 });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', { durationMs: 400_000 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    await fx.cloud.clock.sleep(600_000);
    // Act
    const outcome = await handler(event, contextOf(fx, 900_000));
    // Assess: the action was still open when the run completed it
    expect(outcome).toMatchObject({ result: 'node', nodeId: fx.sets[0]?.nodeId });
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
    expect(fx.cloud.autoscaling.lostEvents).toEqual([]);
  });
});
