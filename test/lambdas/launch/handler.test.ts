import { handler } from '../../../lambdas/launch';
import { CloudFixture, LAUNCH_EVENT } from '../../helpers/cloud-fixture';

describe('launch handler', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  function setup(options: ConstructorParameters<typeof CloudFixture>[0] = {}): CloudFixture {
    fx = new CloudFixture(options);
    restore = fx.plugHandlers();
    return fx;
  }

  it('gives a launching instance a complete free set and continues the lifecycle action', async () => {
    // Prepare
    setup({ sets: 1, volumesPerSet: 2 });
    const [instanceId = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, instanceId);
    // Act
    const outcome = await handler(event);
    // Assess
    const set = fx.sets[0];
    expect(outcome).toMatchObject({ result: 'node', nodeId: set?.nodeId, attempts: 1 });
    expect(fx.attachedVolumes(instanceId)).toEqual([...(set?.volumeIds ?? [])].sort());
    const instance = fx.cloud.ec2.instance(instanceId);
    expect(instance?.networkInterfaces.find((n) => n.deviceIndex === 1)?.networkInterfaceId).toBe(
      set?.networkInterfaceId,
    );
    expect(instance?.tags.NodeID).toBe(set?.nodeId);
    expect(fx.cloud.autoscaling.lifecycleState(instanceId)).toBe('InService');
    const prepare = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    expect(prepare).toHaveLength(1);
    expect(prepare[0]?.parameters).toMatchObject({
      VolumeIds: set?.volumeIds.join(','),
      NodeId: set?.nodeId,
      NetworkInterfaceId: set?.networkInterfaceId,
      NodeIp: set?.privateIp,
      MountPoint: '/data',
      Filesystem: 'btrfs',
    });
  });
});
