import { launch as handler } from '../../helpers/handlers';
import {
  CloudFixture,
  LAUNCH_EVENT,
  pluggedFixtures,
  type FixtureOptions,
} from '../../helpers/cloud-fixture';

/** A customer managed key the adopted set's volumes are encrypted with (not growth's key). */
const SETS_KEY = 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab';

describe('launch with a set under a customer managed key', () => {
  let fx: CloudFixture;
  const fixture = pluggedFixtures();

  /** One adopted set whose two volumes are under SETS_KEY, and one launching instance. */
  function setup(options: FixtureOptions) {
    fx = fixture({ sets: 0, ...options });
    const set = fx.seedSet({ volumes: 2, kmsKeyId: SETS_KEY });
    const [instanceId = ''] = fx.launch(1);
    return { set, instanceId, event: fx.takeEvent(LAUNCH_EVENT, instanceId) };
  }

  it('attaches the set when kmsKeys names its key: EBS gets its grant and decrypts through EC2', async () => {
    // Prepare
    const { set, instanceId, event } = setup({ kmsKeys: [SETS_KEY] });
    // Act
    const outcome = await handler(event);
    // Assess
    expect(outcome).toMatchObject({ result: 'node', nodeId: set.nodeId });
    expect(fx.attachedVolumes(instanceId)).toEqual([...set.volumeIds].sort());
    expect(fx.cloud.authorizer.denied).toBe(0);
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
  });

  it('cannot attach the set when no prop names its key (EC2 answers CustomerKeyHasBeenRevoked)', async () => {
    // Prepare: growth's key is another one; the sets' key is named nowhere
    const { set, instanceId, event } = setup({
      settings: {
        growth: { kmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/mrk-1234abcd12ab34cd56ef1234567890ab' },
      },
    });
    // Act
    const outcome = await handler(event);
    // Assess: the claim (the primary's attach) is refused, the set stays free, the launch is abandoned
    expect(outcome).toMatchObject({ result: 'abandoned' });
    expect(fx.attachedVolumes(instanceId)).toEqual([]);
    expect(fx.cloud.ec2.volume(set.volumeIds[0] ?? '')?.state).toBe('available');
    expect(fx.cloud.authorizer.denied).toBeGreaterThan(0);
  });
});
