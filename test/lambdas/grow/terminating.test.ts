/**
 * A grow racing the termination of its node (issue 13): during `Terminating:Wait` the terminate
 * flow quiesces the host (unmounts); a volume added then reaches no filesystem, follows the set as a
 * blank non-member, and the next instance's prepare-node refuses the blank-plus-data set.
 */
import { grow, launch, terminate } from '../../helpers/handlers';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import { LAUNCH_EVENT, TERMINATE_EVENT } from '../../helpers/cloud-fixture';
import type { ExecRequest } from '../../../local-cloud/src/executors';
import { alarmFires, growthFixture, grownVolumes, nodeWithSet, handlerSuite } from './grow-fixture';

describe('the grow handler on a node that is leaving the group', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  /**
   * Host scripts as a real host answers them: once quiesce-node ran, nothing is mounted; the
   * filesystem holds the seeded volumes and what grow-filesystem added; prepare-node refuses a set
   * that mixes blank volumes and volumes with data.
   */
  function hosts(seeded: readonly string[]): { members: Set<string> } {
    const members = new Set(seeded);
    const quiesced = new Set<string>();
    const recorder = fx.cloud.ssm.recorder;
    recorder.respond('quiesce-node.sh', (r: ExecRequest) => {
      quiesced.add(r.instanceId);
      return { stdout: '{"ok":true,"action":"quiesce-node"}\n' };
    });
    recorder.respond('grow-filesystem.sh', (r: ExecRequest) => {
      if (quiesced.has(r.instanceId)) {
        return {
          exitCode: 1,
          stdout:
            '{"ok":false,"action":"grow-filesystem","code":"failed","error":"nothing is mounted at /data"}\n',
        };
      }
      members.add(r.parameters.VolumeId ?? '');
      return { stdout: '{"ok":true,"action":"grow-filesystem"}\n' };
    });
    recorder.respond('prepare-node.sh', (r: ExecRequest) => {
      const ids = (r.parameters.VolumeIds ?? '').split(',');
      const blank = ids.filter((id) => !members.has(id));
      if (blank.length > 0 && blank.length < ids.length) {
        return {
          exitCode: 3,
          stdout: `{"ok":false,"action":"prepare-node","code":"refused","error":"the set mixes blank volumes and volumes with data (${blank.join(',')} blank)"}\n`,
        };
      }
      return { stdout: '{"ok":true,"action":"prepare-node"}\n' };
    });
    return { members };
  }

  it('refuses to grow an instance in Terminating:Wait and creates no volume', async () => {
    // Prepare
    fx = growthFixture();
    handlers.plug(fx);
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    fx.cloud.autoscaling.terminateInstance(instanceId);
    // Act
    const result = await grow(event);
    // Assess
    expect(result).toMatchObject({ grown: false, refused: 'leaving-group' });
    expect(grownVolumes(fx, instanceId)).toHaveLength(0);
    expect(fx.cloud.accounting.count('ec2:CreateVolume')).toBe(0);
  });

  it('removes its new volume when the termination begins mid-grow, so the next instance gets a clean set', async () => {
    // Prepare: a node holding set 0; the termination begins right after the grow created its volume.
    fx = growthFixture({}, { sets: 1 });
    handlers.plug(fx);
    const seeded = fx.sets.flatMap((s) => s.volumeIds);
    hosts(seeded);
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ec2.hooks.volumeCreated = () => {
      fx.cloud.ec2.hooks.volumeCreated = undefined;
      fx.cloud.autoscaling.terminateInstance(instanceId);
    };

    // Act: the grow, then the terminate hook (quiesce, release), then a new instance's launch.
    const grown = await grow(event).catch((error: unknown) => error);
    await terminate(fx.takeEvent(TERMINATE_EVENT, instanceId));
    const [next = ''] = fx.launch(1);
    const launched = await launch(fx.takeEvent(LAUNCH_EVENT, next));

    // Assess: no volume joined the set; the next instance holds it and was prepared.
    expect(grown).toMatchObject({ grown: false, refused: 'leaving-group' });
    const live = fx.cloud.ec2
      .volumes()
      .filter(
        (v) => v.tags[fx.settings.nodeIdTagKey] === nodeId && v.state !== 'deleted' && v.state !== 'deleting',
      );
    expect(live.map((v) => v.volumeId).sort()).toEqual([...seeded].sort());
    expect(launched).toMatchObject({ result: 'node', nodeId });
  });
});

describe('the ordinal of a grown volume', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  it('is past every ordinal of the set, also of volumes not attached to the node (a set being released)', async () => {
    // Prepare: a node holds set 0 (ordinals 0, 1, 2); ordinal 2 is detached (a terminate that
    // detaches in reverse order, or a half-attached set): only 0 and 1 are attached.
    fx = growthFixture({}, { volumesPerSet: 3 });
    handlers.plug(fx);
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const last = fx.sets[0]?.volumeIds[2] ?? '';
    fx.cloud.ec2.handle('DetachVolume', { VolumeId: last, InstanceId: instanceId });
    await fx.cloud.clock.sleep(10_000);
    const event = await alarmFires(fx, instanceId);
    // Act
    const result = await grow(event);
    // Assess: a fourth ordinal, never a second volume with ordinal 2 (that set could never be claimed).
    expect(result).toMatchObject({ grown: true });
    const ordinals = fx.cloud.ec2
      .volumes()
      .filter((v) => v.tags[fx.settings.nodeIdTagKey] === nodeId)
      .map((v) => v.tags[fx.settings.ordinalTagKey])
      .sort();
    expect(ordinals).toEqual(['0', '1', '2', '3']);
  });
});
