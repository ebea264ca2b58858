import { grow as handler } from '../../helpers/handlers';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import { alarmFires, growthFixture, grownVolumes, handlerSuite, nodeWithSet } from './grow-fixture';

/** A Lambda context whose invocation ends `ms` after it starts (virtual time). */
function contextOf(fx: CloudFixture, ms: number) {
  const start = fx.cloud.clock.now();
  return { getRemainingTimeInMillis: () => start + ms - fx.cloud.clock.now() };
}

describe('grow handler within the Lambda deadline', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  it('stops before its 900 s deadline when the agent is away for 500 s and grow-filesystem takes 500 s, leaving the volume for the reconciler', async () => {
    // Prepare
    fx = growthFixture();
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.agentOffline(instanceId, fx.cloud.clock.now(), 500_000);
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', { durationMs: 500_000 });
    const started = fx.cloud.clock.now();
    // Act
    const outcome = handler(event, contextOf(fx, 900_000));
    // Assess: it ended in time; the volume handed to the host stays attached, marked for the
    // reconciler (never deleted: it may be joining the filesystem right now)
    await expect(outcome).rejects.toThrow(/deadline/);
    expect(fx.cloud.clock.now() - started).toBeLessThanOrEqual(900_000);
    const [volume, ...more] = grownVolumes(fx, instanceId);
    expect(more).toEqual([]);
    expect(volume?.attachments.map((a) => [a.instanceId, a.state])).toEqual([[instanceId, 'attached']]);
    expect(['joining', 'unknown']).toContain(volume?.tags['berth:grow-state']);
  });
});
