/**
 * The campaign's host model answers prepare-node as agent-scripts/prepare-node.sh would: a volume
 * whose block device is not on the host fails the run before anything is mounted; grow-filesystem
 * on a host with nothing mounted fails and joins nothing.
 */
import { launch } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT } from '../../helpers/cloud-fixture';
import { growWithNothingMounted, missingDevice } from '../../bench/faults/host-model';

describe('the campaign host model', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  it('prepare-node finds every device of a node launched by the handler', async () => {
    // Prepare
    fx = new CloudFixture({ sets: 1 });
    restore = fx.plugHandlers();
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'node' });
    // Act / Assess
    expect(missingDevice(fx.cloud, id, fx.sets[0]?.volumeIds ?? [])).toBeUndefined();
  });

  it('prepare-node fails with no block device for a volume not attached there, or stuck attaching', async () => {
    // Prepare: a spare; one volume of a set attached normally, one stuck, one not attached
    fx = new CloudFixture({ sets: 0 });
    restore = fx.plugHandlers();
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'spare' });
    const set = fx.seedSet({
      availabilityZone: fx.cloud.ec2.instance(id)?.availabilityZone ?? '',
      volumes: 3,
    });
    const [attached = '', stuck = '', absent = ''] = set.volumeIds;
    fx.cloud.ec2.handle('AttachVolume', { VolumeId: attached, InstanceId: id, Device: '/dev/sdf' });
    fx.cloud.ec2.stickNextAttachments = 1;
    fx.cloud.ec2.handle('AttachVolume', { VolumeId: stuck, InstanceId: id, Device: '/dev/sdg' });
    await fx.cloud.clock.sleep(60_000);
    // Act / Assess
    expect(missingDevice(fx.cloud, id, [attached])).toBeUndefined();
    expect(missingDevice(fx.cloud, id, [attached, stuck])).toBe(`no block device for ${stuck} after 60s`);
    expect(missingDevice(fx.cloud, id, [attached, absent])).toBe(`no block device for ${absent} after 60s`);
  });

  it('grow-filesystem on a host with nothing mounted fails, blank devices reported not joined', () => {
    const add = { Mode: 'add-device', VolumeId: 'vol-new' };
    expect(growWithNothingMounted(new Set(['vol-a']), add, new Set())).toBeUndefined();
    expect(growWithNothingMounted(undefined, add, new Set())).toEqual({
      error: 'nothing is mounted at /data',
      extra: { joined: false },
    });
    expect(growWithNothingMounted(new Set(), add, new Set(['vol-new']))).toEqual({
      error: 'nothing is mounted at /data',
    });
  });
});
