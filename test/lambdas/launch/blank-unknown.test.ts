/**
 * Issue 13: older versions could leave a grown volume tagged `unknown` that never joined the
 * filesystem (blank) in a free set. prepare-node refuses a set that mixes blank volumes and volumes
 * with data, so launch hands it only the set's filesystem members; the blank volume follows the set
 * (attached), and nothing deletes it. Shown through the launch handler; the host answers as
 * prepare-node does (agent-scripts/prepare-node.sh: "refuses a set that mixes blank and data").
 */
import { launch } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, pluggedFixtures } from '../../helpers/cloud-fixture';
import { TAG_GROW_STATE } from '../../../lambdas/domain/growth-tags';

describe('a free set holding a blank unknown grown volume', () => {
  let fx: CloudFixture;
  const fixture = pluggedFixtures();

  it('is handed to prepare-node without the blank volume, and launches as a node', async () => {
    // Prepare: ordinal 0 holds the filesystem; ordinal 1 was grown, never joined, tagged unknown.
    fx = fixture({ sets: 0 });
    const set = fx.seedSet({ volumes: 2 });
    const [data = '', blank = ''] = set.volumeIds;
    fx.cloud.ec2.handle('CreateTags', {
      Resources: [blank],
      Tags: [{ Key: TAG_GROW_STATE, Value: 'unknown' }],
    });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', (request) =>
      request.parameters.VolumeIds?.split(',').includes(blank)
        ? {
            exitCode: 3,
            stdout: `${JSON.stringify({ ok: false, error: `the set mixes blank volumes and volumes with data (${data}: btrfs, ${blank}: blank)` })}\n`,
          }
        : {},
    );
    const [id = ''] = fx.launch(1);
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess: a node; prepare-node got the member only; the blank volume stays with the set.
    expect(outcome).toMatchObject({ result: 'node', nodeId: set.nodeId });
    const prepares = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    expect(prepares.map((p) => p.parameters.VolumeIds)).toEqual([data]);
    expect(prepares[0]?.parameters.DeviceNames?.split(',')).toHaveLength(1);
    expect(fx.attachedVolumes(id)).toEqual([data, blank].sort());
    expect(fx.cloud.ec2.volume(blank)?.tags[TAG_GROW_STATE]).toBe('unknown');
    expect(fx.cloud.accounting.count('ec2:DeleteVolume')).toBe(0);
  });
});
