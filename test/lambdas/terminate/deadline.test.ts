import { launch, terminate } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, TERMINATE_EVENT } from '../../helpers/cloud-fixture';

/** A Lambda context whose invocation ends `ms` after it starts (virtual time). */
function contextOf(fx: CloudFixture, ms: number) {
  const start = fx.cloud.clock.now();
  return { getRemainingTimeInMillis: () => start + ms - fx.cloud.clock.now() };
}

describe('terminate handler within the Lambda deadline', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  async function nodeWithSet(): Promise<string> {
    fx = new CloudFixture({ sets: 1, volumesPerSet: 2 });
    restore = fx.plugHandlers();
    const [instanceId = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    return instanceId;
  }

  it('completes the action before its 900 s deadline when the agent is away for 500 s and quiesce-node takes 500 s, detaching nothing mounted', async () => {
    // Prepare: the agent loses its connection as termination begins; quiesce-node is slow
    const instanceId = await nodeWithSet();
    fx.cloud.ssm.agentOffline(instanceId, fx.cloud.clock.now(), 500_000);
    fx.cloud.ssm.recorder.respond('quiesce-node.sh', { durationMs: 500_000 });
    fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
    const event = fx.takeEvent(TERMINATE_EVENT, instanceId);
    const started = fx.cloud.clock.now();
    // Act
    const outcome = await terminate(event, contextOf(fx, 900_000));
    // Assess: ended in time, the action completed by berth, the mounted set left to termination
    expect(fx.cloud.clock.now() - started).toBeLessThanOrEqual(900_000);
    expect(outcome).toMatchObject({ result: 'not-quiesced', reason: expect.stringMatching(/deadline/) });
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(0);
    expect(fx.cloud.accounting.count('ec2:DetachNetworkInterface')).toBe(0);
    expect(fx.cloud.autoscaling.pendingActions()).toEqual([]);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });
});
