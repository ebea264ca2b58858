import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { launch } from '../../helpers/handlers';
import { reconcile } from '../../helpers/handlers';
import { alarmName } from '../../../lambdas/shared/alarm-names';
import { terminate } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, TERMINATE_EVENT } from '../../helpers/cloud-fixture';

describe('lifecycle handlers with growth on', () => {
  let fx: CloudFixture;
  let restore: () => void;

  afterEach(() => restore());

  async function alarms(): Promise<string[]> {
    const out = await fx.clients.cloudWatch.send(new DescribeAlarmsCommand({}));
    return (out.MetricAlarms ?? []).map((a) => a.AlarmName ?? '').sort();
  }

  it('creates the node disk alarm after prepare-node and deletes it at termination', async () => {
    // Prepare
    fx = new CloudFixture({ sets: 1, settings: { growth: {} } });
    restore = fx.plugHandlers();
    const [instanceId = ''] = fx.launch(1);
    // Act
    await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    const afterLaunch = await alarms();
    fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
    await terminate(fx.takeEvent(TERMINATE_EVENT, instanceId));
    // Assess
    expect(afterLaunch).toEqual([alarmName(fx.settings, instanceId)]);
    expect(await alarms()).toEqual([]);
  });

  it('gives a spare a scratch volume when growth.scratch.forSpares is set', async () => {
    // Prepare
    fx = new CloudFixture({ sets: 0, settings: { growth: { scratch: { enabled: true, forSpares: true } } } });
    restore = fx.plugHandlers();
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    // Assess
    expect(outcome).toMatchObject({ result: 'spare' });
    const scratch = fx.cloud.ec2
      .volumes()
      .filter(
        (v) =>
          v.attachments.some((a) => a.instanceId === instanceId) && v.tags['berth:group'] === 'etcd-nodes',
      );
    expect(scratch).toHaveLength(1);
    expect(await alarms()).toEqual([alarmName(fx.settings, instanceId)]);
  });

  it('recreates a missing node alarm from the reconciler', async () => {
    // Prepare
    fx = new CloudFixture({ sets: 1, settings: { growth: {} } });
    restore = fx.plugHandlers();
    const [instanceId = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    fx.cloud.cloudwatch.handle('DeleteAlarms', { AlarmNames: [alarmName(fx.settings, instanceId)] });
    // Act
    await reconcile({ 'detail-type': 'Scheduled Event' });
    // Assess
    expect(await alarms()).toEqual([alarmName(fx.settings, instanceId)]);
  });

  it('does not promote a spare whose scratch filesystem holds the mount point', async () => {
    // Prepare: a spare with scratch, then a set appears
    fx = new CloudFixture({ sets: 0, settings: { growth: { scratch: { enabled: true, forSpares: true } } } });
    restore = fx.plugHandlers();
    const [spareId = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, spareId));
    const set = fx.seedSet();
    // Act
    const report = await reconcile({ 'detail-type': 'Scheduled Event' });
    // Assess
    expect(report.promoted).toEqual([{ spareId, nodeId: set.nodeId, outcome: 'skipped' }]);
    expect(fx.cloud.ec2.volume(set.volumeIds[0] ?? '')?.state).toBe('available');
  });

  it('gives every instance of a scratch group (nodeSets: false) a scratch volume and an alarm', async () => {
    // Prepare
    fx = new CloudFixture({ sets: 0, settings: { nodeSets: false, growth: { scratch: { enabled: true } } } });
    restore = fx.plugHandlers();
    const [instanceId = ''] = fx.launch(1);
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, instanceId));
    const during = await alarms();
    fx.cloud.autoscaling.terminateInstance(instanceId, { decrementCapacity: true });
    const ended = await terminate(fx.takeEvent(TERMINATE_EVENT, instanceId));
    // Assess
    expect(outcome).toEqual({ result: 'scratch' });
    const prepare = fx.cloud.ssm.recorder.requestsFor('prepare-node.sh');
    expect(prepare).toHaveLength(1);
    expect(prepare[0]?.parameters).toMatchObject({ MountPoint: '/scratch', NodeId: '' });
    expect(during).toEqual([alarmName(fx.settings, instanceId)]);
    expect(ended).toEqual({ result: 'no-set' });
    expect(await alarms()).toEqual([]);
  });
});
