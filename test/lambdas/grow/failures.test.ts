import { DeleteVolumeCommand, DetachVolumeCommand } from '@aws-sdk/client-ec2';
import { grow as handler } from '../../helpers/handlers';
import { alarmName } from '../../../lambdas/shared/alarm-names';
import type { CloudFixture } from '../../helpers/cloud-fixture';
import {
  alarmFires,
  growthFixture,
  grownVolumes,
  nodeWithSet,
  scratchInstance,
  handlerSuite,
} from './grow-fixture';

/** The cleanup rule, step by step: before the volume joined it goes; once it (maybe) joined it stays. */
describe('the grow handler when a step fails', () => {
  let fx: CloudFixture;
  const handlers = handlerSuite();

  async function node(growth = {}) {
    fx = growthFixture(growth);
    handlers.plug(fx);
    return nodeWithSet(fx);
  }

  const live = (instanceId: string) => grownVolumes(fx, instanceId).filter((v) => v.state !== 'deleting');

  it('leaves nothing behind when CreateVolume is refused', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('CreateVolume', 'VolumeLimitExceeded');
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('VolumeLimitExceeded');
    expect(live(instanceId)).toHaveLength(0);
  });

  it('keeps one volume when CreateVolume took effect but its answer was lost', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('CreateVolume', 'InternalError', { when: 'after' });
    // Act
    const result = await handler(event);
    // Assess
    expect(result.grown).toBe(true);
    expect(live(instanceId)).toHaveLength(1);
  });

  it('deletes the new volume when AttachVolume fails', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('AttachVolume', 'UnauthorizedOperation');
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('UnauthorizedOperation');
    expect(live(instanceId)).toHaveLength(0);
    expect(fx.cloud.accounting.count('ec2:DeleteVolume')).toBe(1);
  });

  it('creates nothing more when EventBridge retries the event of a failed grow', async () => {
    // Prepare: the first delivery fails and cleans up.
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('AttachVolume', 'UnauthorizedOperation');
    await expect(handler(event)).rejects.toThrow('UnauthorizedOperation');
    // Act
    const retried = await handler(structuredClone(event));
    // Assess
    expect(retried).toMatchObject({ grown: false, refused: 'already-handled' });
    expect(live(instanceId)).toHaveLength(0);
  });

  it('detaches and deletes a scratch volume when DeleteOnTermination cannot be set', async () => {
    // Prepare
    fx = growthFixture({ scratch: { enabled: true, forSpares: true, sizeGiB: 20 } });
    handlers.plug(fx);
    const { instanceId } = await scratchInstance(fx);
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('ModifyInstanceAttribute', 'UnauthorizedOperation');
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('UnauthorizedOperation');
    expect(live(instanceId)).toHaveLength(0);
    expect(fx.cloud.accounting.count('ec2:DetachVolume')).toBe(1);
  });

  it('detaches and deletes the new volume when the SSM agent never comes online', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.agentOnlineDelayMs = 24 * 3600_000;
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('not online');
    expect(live(instanceId)).toHaveLength(0);
  });

  it('sends no DeleteVolume for a volume the reconciler deleted while the grow waited for the agent', async () => {
    // Prepare: the agent stays offline; meanwhile the new (pending) volume is detached and deleted
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.agentOnlineDelayMs = 24 * 3600_000;
    const reaped = fx.cloud.clock.sleep(60_000).then(async () => {
      const [volume] = live(instanceId);
      if (!volume) throw new Error('no grown volume to reap');
      await fx.clients.ec2.send(new DetachVolumeCommand({ VolumeId: volume.volumeId }));
      await fx.cloud.clock.sleep(10_000);
      await fx.clients.ec2.send(new DeleteVolumeCommand({ VolumeId: volume.volumeId }));
    });
    // Act
    const outcome = handler(event);
    // Assess: the grow gives up on the agent and finds the volume gone: the test's delete is the only one
    await expect(outcome).rejects.toThrow('not online');
    await reaped;
    expect(live(instanceId)).toHaveLength(0);
    expect(fx.cloud.accounting.count('ec2:DeleteVolume')).toBe(1);
  });

  it('detaches and deletes the new volume when grow-filesystem refuses it', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
      exitCode: 3,
      stdout: '{"ok":false,"action":"grow-filesystem","code":"refused","error":"carries a signature"}\n',
    });
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('carries a signature');
    expect(live(instanceId)).toHaveLength(0);
    expect(fx.cloud.cloudwatch.alarmState(alarmName(fx.settings, instanceId))).toBe('ALARM');
  });

  it('keeps the volume (tagged unknown) when grow-filesystem fails after it may have joined', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
      exitCode: 1,
      stdout: '{"ok":false,"action":"grow-filesystem","code":"failed","error":"resize failed"}\n',
    });
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('resize failed');
    const [kept] = live(instanceId);
    expect(kept).toMatchObject({ state: 'in-use', tags: { 'berth:grow-state': 'unknown' } });
    expect(fx.cloud.accounting.count('ec2:DeleteVolume')).toBe(0);
  });

  it('attempts no delete when the host refused the volume but the refused mark cannot be written (a joining volume is never deleted)', async () => {
    // Prepare: the host refuses the device; the CreateTags after the joining mark fails
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
      exitCode: 3,
      stdout: '{"ok":false,"action":"grow-filesystem","code":"refused","error":"carries a signature"}\n',
    });
    fx.cloud.faults.failNext('CreateTags', 'UnauthorizedOperation', { skip: 1 });
    const deletesBefore = fx.cloud.accounting.count('ec2:DeleteVolume');
    // Act
    const outcome = handler(event);
    // Assess: no DeleteVolume sent (IAM would refuse it), the volume stays joining for the reconciler
    await expect(outcome).rejects.toThrow('carries a signature');
    expect(fx.cloud.accounting.count('ec2:DeleteVolume') - deletesBefore).toBe(0);
    expect(live(instanceId).map((v) => v.tags['berth:grow-state'])).toEqual(['joining']);
  });

  it('deletes the new volume when it cannot be tagged joining (before the host step)', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('CreateTags', 'UnauthorizedOperation');
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('UnauthorizedOperation');
    expect(live(instanceId)).toHaveLength(0);
    expect(fx.cloud.ssm.recorder.requestsFor('grow-filesystem.sh')).toHaveLength(0);
  });

  it('keeps a joined volume when tagging it joined fails', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.faults.failNext('CreateTags', 'UnauthorizedOperation', { skip: 1 });
    // Act
    const outcome = handler(event);
    // Assess
    await expect(outcome).rejects.toThrow('UnauthorizedOperation');
    expect(live(instanceId)).toHaveLength(1);
    expect(live(instanceId)[0]).toMatchObject({
      state: 'in-use',
      tags: { NodeID: fx.sets[0]?.nodeId, 'berth:ordinal': '1', 'berth:grow-state': 'joining' },
    });
  });

  it('marks the volume joining before the host step, so that pending means never handed to the host', async () => {
    // Prepare: record the volume's state tag when the host step runs.
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    const seen: (string | undefined)[] = [];
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', (request) => {
      seen.push(fx.cloud.ec2.volume(request.parameters.VolumeId ?? '')?.tags['berth:grow-state']);
      return {};
    });
    // Act
    const result = await handler(event);
    // Assess
    expect(seen).toEqual(['joining']);
    expect(fx.cloud.ec2.volume(result.volumeId ?? '')?.tags['berth:grow-state']).toBe('joined');
  });

  it('tags a volume the host refused before deleting it', async () => {
    // Prepare
    const { instanceId } = await node();
    const event = await alarmFires(fx, instanceId);
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', {
      exitCode: 3,
      stdout: '{"ok":false,"action":"grow-filesystem","code":"refused","error":"not blank"}\n',
    });
    fx.cloud.accounting.keepLog = true;
    // Act
    await expect(handler(event)).rejects.toThrow('not blank');
    // Assess
    const calls = fx.cloud.accounting.log.map((c) => c.operation);
    expect(calls.lastIndexOf('CreateTags')).toBeLessThan(calls.indexOf('DeleteVolume'));
    expect(calls.filter((c) => c === 'CreateTags')).toHaveLength(2); // joining, then refused
  });

  it('answers an operator’s request with the failure instead of throwing', async () => {
    // Prepare
    const { instanceId } = await node();
    fx.cloud.faults.failNext('AttachVolume', 'UnauthorizedOperation');
    // Act
    const result = await handler({ instanceId, reason: 'operator' }, { awsRequestId: 'op-1' });
    // Assess
    expect(result).toMatchObject({ grown: false, refused: 'failed' });
    expect(result.reason).toContain('UnauthorizedOperation');
    expect(live(instanceId)).toHaveLength(0);
  });

  it('resumes a grow whose run died once it is stale, and not before', async () => {
    // Prepare: the run dies right after CreateVolume.
    const { instanceId } = await node();
    const first = await alarmFires(fx, instanceId);
    const creates = fx.cloud.accounting.count('ec2:CreateVolume');
    fx.cloud.faults.killAfter(6); // instance, lifecycle state, two listings, the set, CreateVolume
    await expect(handler(first)).rejects.toThrow();
    fx.cloud.faults.revive();
    expect(fx.cloud.accounting.count('ec2:CreateVolume')).toBe(creates + 1);
    // Act: a new trigger soon after, and another once the pending grow is stale.
    const soon = await handler({ instanceId, reason: 'soon' }, { awsRequestId: 'soon' });
    fx.cloud.clock.advance(3600_000);
    const later = await handler({ instanceId, reason: 'later' }, { awsRequestId: 'later' });
    // Assess
    expect(soon).toMatchObject({ grown: false, refused: 'in-flight' });
    expect(later).toMatchObject({ grown: true });
    expect(live(instanceId)).toHaveLength(1);
    expect(live(instanceId)[0]?.tags['berth:grow-state']).toBe('joined');
  });
});
