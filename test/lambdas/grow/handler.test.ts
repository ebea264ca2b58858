import { DescribeAlarmsCommand } from '@aws-sdk/client-cloudwatch';
import { CreateTagsCommand } from '@aws-sdk/client-ec2';
import { grow as handler } from '../../helpers/handlers';
import { alarmName } from '../../../lambdas/shared/alarm-names';
import { describeSet } from '../../../lambdas/aws/set-resources';
import { attachVolume, volumeAttachedTo, waitForVolume } from '../../../lambdas/aws/attachments';
import { reapOrphanedVolumes } from '../../../lambdas/shared/growth-reconcile';
import { launch as launchHandler } from '../../helpers/handlers';
import { LAUNCH_EVENT, type CloudFixture } from '../../helpers/cloud-fixture';
import {
  alarmFires,
  growthFixture,
  grownVolumes,
  nodeWithSet,
  reportDiskUsed,
  scratchInstance,
  takeAlarmEvent,
  handlerSuite,
} from './grow-fixture';

/** EMF lines the handler printed (Powertools Metrics writes them to stdout). */
function captureEmf(): { lines: () => Record<string, unknown>[]; stop: () => void } {
  const lines: string[] = [];
  const spy = jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return {
    lines: () =>
      lines
        .flatMap((l) => l.split('\n'))
        .filter((l) => l.includes('"_aws"'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    stop: () => spy.mockRestore(),
  };
}

describe('the grow handler', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  function setup(...args: Parameters<typeof growthFixture>): CloudFixture {
    fx = growthFixture(...args);
    handlers.plug(fx);
    return fx;
  }

  it('never reuses the ordinal of a set volume that has not joined (a dead grow of the previous holder)', async () => {
    // Prepare: the set's second volume is a pending grow made for another instance
    setup({}, { volumesPerSet: 2 });
    const set = fx.sets[0];
    const [, pendingGrow = ''] = set?.volumeIds ?? [];
    await fx.clients.ec2.send(
      new CreateTagsCommand({
        Resources: [pendingGrow],
        Tags: [
          { Key: 'berth:ordinal', Value: '1' },
          { Key: 'berth:grow-state', Value: 'pending' },
          { Key: 'berth:instance', Value: 'i-0000000000000dead' },
        ],
      }),
    );
    const { instanceId } = await nodeWithSet(fx);
    // Act
    const result = await handler(await alarmFires(fx, instanceId));
    // Assess: the new volume takes the next free ordinal, so the set keeps one volume per ordinal
    expect(result).toMatchObject({ grown: true });
    const [grown] = grownVolumes(fx, instanceId);
    expect(grown?.tags['berth:ordinal']).toBe('2');
  });

  it('adds a NodeID volume to a node whose alarm fires', async () => {
    // Prepare
    setup();
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    // Act
    const result = await handler(event);
    // Assess
    expect(result).toMatchObject({ grown: true, mode: 'add-device', sizeGiB: 150 });
    const [grown] = grownVolumes(fx, instanceId);
    expect(grown).toMatchObject({
      state: 'in-use',
      size: 150,
      volumeType: 'gp3',
      encrypted: true,
      tags: {
        NodeID: nodeId,
        'berth:ordinal': '1',
        'berth:group': fx.groupName,
        'berth:grow-state': 'joined',
        Service: 'etcd',
      },
    });
    expect(grown?.attachments[0]).toMatchObject({
      instanceId,
      state: 'attached',
      deleteOnTermination: false,
    });
    expect(fx.cloud.ssm.recorder.requestsFor('grow-filesystem.sh')[0]?.parameters).toMatchObject({
      Mode: 'add-device',
      VolumeId: grown?.volumeId,
      MountPoint: '/data',
    });
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
  });

  it('creates the volume with the configured type, IOPS, throughput and KMS key, never copying aws: tags', async () => {
    // Prepare
    setup({
      iops: 4000,
      throughput: 250,
      kmsKeyId: 'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    });
    const { instanceId } = await nodeWithSet(fx);
    // Act
    await handler(await alarmFires(fx, instanceId));
    // Assess
    const [grown] = grownVolumes(fx, instanceId);
    expect(grown).toMatchObject({ iops: 4000, throughput: 250, encrypted: true });
    expect(grown?.kmsKeyId).toBe(
      'arn:aws:kms:eu-west-1:111111111111:key/1234abcd-12ab-34cd-56ef-1234567890ab',
    );
    expect(Object.keys(grown?.tags ?? {}).filter((k) => k.startsWith('aws:'))).toEqual([]);
  });

  it('grows a real alarm again while the disk stays full, and raises the threshold with the devices', async () => {
    // Prepare: the agent keeps reporting 95 % used.
    setup({ cooldownSeconds: 0 });
    const { instanceId } = await nodeWithSet(fx);
    const name = alarmName(fx.settings, instanceId);
    // Act: three rounds of "alarm fires → grow → OK → still full".
    const results = [];
    for (let round = 0; round < 3; round++) {
      for (let minute = 0; minute < 3; minute++) {
        await reportDiskUsed(fx, instanceId, 95);
        fx.cloud.clock.advance(60_000);
      }
      results.push(await handler(takeAlarmEvent(fx, name)));
    }
    // Assess
    expect(results.map((r) => r.grown)).toEqual([true, true, true]);
    expect(grownVolumes(fx, instanceId)).toHaveLength(3);
    const alarms = await fx.clients.cloudWatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }));
    expect(alarms.MetricAlarms?.[0]).toMatchObject({
      Threshold: 80,
      Namespace: 'CWAgent',
      MetricName: 'disk_used_percent',
    });
  });

  it('creates one volume when the same alarm event arrives twice, one after the other', async () => {
    // Prepare
    setup();
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    // Act
    const first = await handler(event);
    const second = await handler(structuredClone(event));
    // Assess
    expect(first.grown).toBe(true);
    expect(second).toMatchObject({ grown: false });
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
  });

  it('creates one volume when the same alarm event arrives five times at once', async () => {
    // Prepare
    setup();
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    // Act
    const results = await Promise.all([1, 2, 3, 4, 5].map(() => handler(structuredClone(event))));
    // Assess
    expect(results.filter((r) => r.grown)).toHaveLength(1);
    expect(results.filter((r) => !r.grown).map((r) => r.refused)).toEqual(Array(4).fill('in-flight'));
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
  });

  it('grows once when two different triggers race for one instance', async () => {
    // Prepare: an alarm event and an operator's request at the same moment.
    setup();
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    // Act
    const results = await Promise.all([
      handler(event),
      handler({ instanceId, reason: 'operator' }, { awsRequestId: 'req-1' }),
    ]);
    // Assess
    expect(results.filter((r) => r.grown)).toHaveLength(1);
    const live = grownVolumes(fx, instanceId).filter((v) => v.state !== 'deleting');
    expect(live).toHaveLength(1);
  });

  it('grows through EC2 throttling with one volume', async () => {
    // Prepare
    setup();
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.throttleRate = 0.3;
    // Act
    const result = await handler(event);
    // Assess
    fx.cloud.faults.throttleRate = 0;
    expect(result.grown).toBe(true);
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
  });

  it('grows a node on a manual request with the size asked for', async () => {
    // Prepare
    setup();
    const { instanceId } = await nodeWithSet(fx);
    // Act
    const result = await handler(
      { instanceId, sizeGiB: 42, reason: 'manual grow (SSM Automation x)' },
      { awsRequestId: 'r1' },
    );
    // Assess
    expect(result).toMatchObject({ grown: true, sizeGiB: 42, reason: 'manual grow (SSM Automation x)' });
    expect(grownVolumes(fx, instanceId)[0]?.size).toBe(42);
  });

  it.each([
    [{ instanceId: 'not-an-id', reason: 'x' }, 'instanceId must be an EC2 instance id'],
    [{ instanceId: 'i-0123456789abcdef0', sizeGiB: 'lots' }, 'sizeGiB must be a whole number of GiB'],
    [{ instanceId: 'i-0123456789abcdef0', sizeGiB: 20000 }, 'sizeGiB must be a whole number of GiB'],
  ])('refuses an invalid manual request %j', async (request, message) => {
    // Prepare
    setup();
    // Act
    const result = await handler(request, { awsRequestId: 'r' });
    // Assess
    expect(result).toMatchObject({ grown: false, refused: 'invalid-request' });
    expect(result.reason).toContain(message);
  });

  it('refuses a manual request for an instance of another group', async () => {
    // Prepare
    setup();
    const other = fx.cloud.ec2.runInstance({ subnetId: fx.subnet('eu-west-1a') });
    // Act
    const result = await handler({ instanceId: other, reason: 'x' }, { awsRequestId: 'r' });
    // Assess
    expect(result).toMatchObject({ grown: false });
    expect(result.refused).toMatch(/not-in-group|not-running/);
  });

  it('ignores alarms of other groups and alarm states other than ALARM', async () => {
    // Prepare
    setup();
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    const foreign = structuredClone(event);
    foreign.detail.alarmName = `someone-else-${instanceId}`;
    const ok = structuredClone(event);
    (ok.detail.state as { value: string }).value = 'OK';
    // Act
    const results = [await handler(foreign), await handler(ok), await handler({ hello: 'world' })];
    // Assess
    expect(results.map((r) => r.refused)).toEqual(['ignored', 'ignored', 'ignored']);
    expect(grownVolumes(fx, instanceId)).toHaveLength(0);
  });

  it('refuses at the volume limit with the figures and a GrowRefusals metric, without throwing', async () => {
    // Prepare: the set already has 2 volumes, the limit is 2.
    setup({ maxVolumes: 2 }, { volumesPerSet: 2 });
    const { instanceId } = await nodeWithSet(fx);
    const event = await alarmFires(fx, instanceId);
    process.env.POWERTOOLS_METRICS_DISABLED = 'false';
    const emf = captureEmf();
    // Act
    let result;
    try {
      result = await handler(event);
    } finally {
      emf.stop();
    }
    // Assess
    expect(result).toMatchObject({
      grown: false,
      refused: 'max-volumes',
      figures: { devices: 2, maxVolumes: 2 },
    });
    const metric = emf.lines().find((l) => 'GrowRefusals' in l);
    expect(metric).toMatchObject({ Group: fx.groupName, GrowRefusals: 1 });
    const aws = metric?._aws as { CloudWatchMetrics: { Namespace: string; Dimensions: string[][] }[] };
    expect(aws.CloudWatchMetrics[0]).toMatchObject({ Namespace: 'Berth', Dimensions: [['Group']] });
    expect(grownVolumes(fx, instanceId)).toHaveLength(0);
  });

  it('refuses to grow an instance that holds volumes of two sets, and creates no volume', async () => {
    // Prepare: a node, and the primary of another set left on it (a launch run's piece the
    // reconciler has not released yet)
    setup({}, { sets: 2 });
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const other = fx.sets[1];
    if (!other?.volumeIds[0]) throw new Error('no second set');
    await attachVolume(fx.deps(), other.volumeIds[0], instanceId, '/dev/sdp');
    await waitForVolume(fx.deps(), other.volumeIds[0], volumeAttachedTo(instanceId));
    // Act
    const result = await handler(await alarmFires(fx, instanceId));
    // Assess
    expect(result).toMatchObject({ grown: false, refused: 'two-sets' });
    expect(result.reason).toContain(nodeId);
    expect(result.reason).toContain(other.nodeId);
    expect(grownVolumes(fx, instanceId)).toHaveLength(0);
  });

  it('refuses a second grow within the cooldown and re-arms the alarm', async () => {
    // Prepare
    setup({ cooldownSeconds: 600 });
    const { instanceId } = await nodeWithSet(fx);
    await handler(await alarmFires(fx, instanceId));
    fx.cloud.clock.advance(120_000);
    // Act
    const result = await handler(await alarmFires(fx, instanceId));
    // Assess
    expect(result).toMatchObject({ grown: false, refused: 'cooldown' });
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('OK');
    expect(grownVolumes(fx, instanceId)).toHaveLength(1);
  });

  it('respects the attachment limit of the instance type', async () => {
    // Prepare: an instance type with room for the root volume and the set's one volume only.
    setup({}, { instanceType: 'tiny.test' });
    fx.cloud.ec2.instanceTypes['tiny.test'] = {
      ...(fx.cloud.ec2.instanceTypes['m5.large'] as (typeof fx.cloud.ec2.instanceTypes)[string]),
      maximumEbsAttachments: 4,
      attachmentLimitType: 'shared',
    };
    const { instanceId } = await nodeWithSet(fx);
    // Act: root volume + set volume + primary ENI = 3 of 4 shared slots: one grow fits, then full.
    const first = await handler({ instanceId, reason: 'a' }, { awsRequestId: 'a' });
    const second = await handler({ instanceId, reason: 'b' }, { awsRequestId: 'b' });
    // Assess
    expect(first.grown).toBe(true);
    expect(second).toMatchObject({ grown: false, refused: 'attachment-limit' });
  });

  it('lets the NodeID volume follow its set to the replacement node', async () => {
    // Prepare: a one-set group; the node grows, then is terminated.
    setup({}, { sets: 1 });
    const { instanceId, nodeId } = await nodeWithSet(fx);
    const result = await handler(await alarmFires(fx, instanceId));
    fx.cloud.ec2.terminateInstance(instanceId);
    await fx.cloud.clock.sleep(60_000);
    const reaped = await reapOrphanedVolumes(fx.deps());
    // Act: a replacement launches and berth's launch handler claims the set.
    const [replacement] = fx.launch(1);
    if (!replacement) throw new Error('no replacement');
    const launched = await launchHandler(fx.takeEvent(LAUNCH_EVENT, replacement));
    // Assess
    expect(reaped.deleted).toEqual([]);
    expect(launched).toMatchObject({ result: 'node', nodeId });
    const set = await describeSet(fx.deps(), nodeId);
    expect(set.ok && set.set.volumes.map((v) => v.volumeId)).toContain(result.volumeId);
    expect(fx.cloud.ec2.volume(result.volumeId ?? '')?.attachments[0]?.instanceId).toBe(replacement);
  });

  it('grows a scratch group’s /scratch like the seed: 20 GiB first, then 150 GiB volumes', async () => {
    // Prepare: a group without node sets; each instance starts with a scratch volume.
    setup(
      { scratch: { enabled: true, forSpares: false, sizeGiB: 20 }, cooldownSeconds: 0 },
      { sets: 0, settings: { nodeSets: false } },
    );
    const { instanceId, volumeId: scratch } = await scratchInstance(fx);
    // Act
    const first = await handler(await alarmFires(fx, instanceId));
    const second = await handler(await alarmFires(fx, instanceId));
    // Assess
    expect([first.sizeGiB, second.sizeGiB]).toEqual([150, 150]);
    expect(fx.cloud.ec2.volume(scratch)?.size).toBe(20);
    const runs = fx.cloud.ssm.recorder.requestsFor('grow-filesystem.sh');
    expect(runs.map((r) => r.parameters.MountPoint)).toEqual(['/scratch', '/scratch']);
    const attachedHere = fx.cloud.ec2.instance(instanceId)?.volumes.filter((v) => v.deleteOnTermination);
    expect(attachedHere?.length).toBe(4); // root, scratch and the two grown volumes
  });

  it('grows a spare’s scratch volume with DeleteOnTermination, and the volumes die with it', async () => {
    // Prepare
    setup({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } });
    const { instanceId, volumeId: scratch } = await scratchInstance(fx);
    // Act
    const result = await handler(await alarmFires(fx, instanceId));
    // Assess
    expect(result).toMatchObject({ grown: true, sizeGiB: 150 });
    const grown = fx.cloud.ec2.volume(result.volumeId ?? '');
    expect(grown?.tags.NodeID).toBeUndefined();
    expect(grown?.attachments[0]?.deleteOnTermination).toBe(true);
    fx.cloud.ec2.terminateInstance(instanceId);
    await fx.cloud.clock.sleep(60_000);
    const gone = (id: string) => [undefined, 'deleted'].includes(fx.cloud.ec2.volume(id)?.state);
    expect([gone(scratch), gone(result.volumeId ?? '')]).toEqual([true, true]);
  });
});
