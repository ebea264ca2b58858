import { completeAction, recordHeartbeat } from '../../../lambdas/aws/lifecycle';
import { parseLifecycleEvent } from '../../../lambdas/shared/events';
import { CloudFixture, LAUNCH_EVENT } from '../../helpers/cloud-fixture';

describe('lifecycle helpers', () => {
  it('counts completing an action twice as already complete, and a heartbeat on it as gone', async () => {
    // Prepare
    const fx = new CloudFixture({ sets: 0 });
    const [id = ''] = fx.launch(1);
    const action = parseLifecycleEvent(fx.takeEvent(LAUNCH_EVENT, id), 'launch');
    const deps = fx.deps();
    // Act
    const first = await completeAction(deps, action, 'CONTINUE');
    const second = await completeAction(deps, action, 'CONTINUE');
    const beat = await recordHeartbeat(deps, action);
    // Assess
    expect([first, second, beat]).toEqual(['completed', 'already-complete', false]);
  });
});
