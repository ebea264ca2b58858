/**
 * The campaign's new invariants (issue 13), judged on the local cloud after flows through the
 * handlers: they hold after a clean launch and flag each violation when one is made by hand.
 */
import { SendCommandCommand } from '@aws-sdk/client-ssm';
import { launch } from '../../helpers/handlers';
import { alarmName } from '../../../lambdas/shared/alarm-names';
import { checkInvariants, type InvariantInput, type InvariantName } from '../../demo/invariants';
import { CloudFixture, LAUNCH_EVENT } from '../../helpers/cloud-fixture';

describe('the campaign invariants', () => {
  let fx: CloudFixture;
  let restore: () => void;
  const deleted: NonNullable<InvariantInput['deletedVolumes']>[number][] = [];

  afterEach(() => restore());

  async function nodes(n: number, growth = true): Promise<string[]> {
    fx = new CloudFixture({
      sets: n,
      azs: ['eu-west-1a', 'eu-west-1b'],
      settings: growth ? { growth: {} } : {},
    });
    restore = fx.plugHandlers();
    deleted.length = 0;
    fx.cloud.ec2.hooks.volumeDeleted = (v, why) =>
      deleted.push({ volumeId: v.volumeId, tags: { ...v.tags }, why });
    const ids = fx.launch(n);
    await Promise.all(fx.launchEvents().map((e) => launch(e)));
    return ids;
  }

  function violations(createdVolumeIds: string[] = []): Record<string, string[]> {
    const found = checkInvariants({
      cloud: fx.cloud,
      seededVolumeIds: fx.sets.flatMap((s) => s.volumeIds),
      createdVolumeIds,
      joinedVolumeIds: new Set(),
      pendingActions: [],
      timedOutActions: [],
      groupName: fx.groupName,
      prepareDocument: fx.settings.documents.prepareNode,
      alarmNamePrefix: `${fx.settings.alarmPrefix}${fx.groupName}-`,
      deletedVolumes: deleted,
    });
    const out: Record<string, string[]> = {};
    for (const v of found) (out[v.invariant] ??= []).push(v.detail);
    return out;
  }
  const only = (name: InvariantName) => violations()[name] ?? [];

  it('grownVolumeLeaked: a grown volume of unknown outcome is a leak on a held set, not on a free one (it waits for its next holder)', async () => {
    // Prepare: two sets, one held; a grown volume of unknown outcome, detached, in each
    fx = new CloudFixture({ sets: 2, settings: { growth: {} } });
    restore = fx.plugHandlers();
    const [id = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, id));
    const heldNodeId = fx.cloud.ec2.instance(id)?.tags.NodeID ?? '';
    const unknownIn = (nodeId: string) =>
      fx.cloud.ec2.seedVolume({
        availabilityZone: fx.sets[0]?.availabilityZone ?? 'eu-west-1a',
        size: 100,
        tags: { NodeID: nodeId, 'berth:grow-state': 'unknown', 'berth:ordinal': '1' },
      });
    const onHeld = unknownIn(heldNodeId);
    const onFree = unknownIn(fx.sets.find((s) => s.nodeId !== heldNodeId)?.nodeId ?? '');
    // Act
    const found = violations([onHeld, onFree]).grownVolumeLeaked ?? [];
    // Assess
    expect(found.join()).toContain(onHeld);
    expect(found.join()).not.toContain(onFree);
  });

  it('all hold after launches through the handler in two AZs', async () => {
    await nodes(2);
    expect(violations()).toEqual({});
  });

  it('holderNotPrepared: a set held by an InService instance that never ran prepare-node for it', async () => {
    // Prepare: a spare (no set was free at its launch), then a set attached to it by hand.
    await nodes(1, false);
    const [spare = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, spare))).toMatchObject({ result: 'spare' });
    const az = fx.cloud.ec2.instance(spare)?.availabilityZone ?? '';
    const extra = fx.seedSet({ availabilityZone: az });
    fx.cloud.ec2.handle('AttachVolume', {
      VolumeId: extra.volumeIds[0],
      InstanceId: spare,
      Device: '/dev/sdf',
    });
    fx.cloud.ec2.handle('AttachNetworkInterface', {
      NetworkInterfaceId: extra.networkInterfaceId,
      InstanceId: spare,
      DeviceIndex: 1,
    });
    await fx.cloud.clock.sleep(60_000);
    expect(only('holderNotPrepared')).toEqual([]); // within the bound: not yet a violation
    // Act: an hour passes without a prepare-node.
    await fx.cloud.clock.sleep(3600_000);
    // Assess
    expect(only('holderNotPrepared').join()).toContain(spare);
  });

  const sendQuiesce = (id: string) =>
    fx.clients.ssm.send(
      new SendCommandCommand({
        DocumentName: fx.settings.documents.quiesceNode,
        InstanceIds: [id],
        Parameters: { MountPoint: [fx.settings.mountPoint], TimeoutSeconds: ['60'] },
      }),
    );

  it('hostStepsAtOnce: holds when two commands are in flight at once, since the host runs them in turn', async () => {
    const [id = ''] = await nodes(1, false);
    fx.cloud.ssm.recorder.respond('quiesce-node.sh', { stdout: '{"ok":true}\n', durationMs: 300_000 });
    await sendQuiesce(id);
    await fx.cloud.clock.sleep(10_000);
    await sendQuiesce(id);
    await fx.cloud.ssm.settled();
    // The second waited for the host lock: it began when the first ended.
    const runs = fx.cloud.ssm
      .commandHistory()
      .filter((r) => r.documentName === fx.settings.documents.quiesceNode);
    expect(runs[1]?.ranAt).toBe(runs[0]?.ranUntil);
    expect(only('hostStepsAtOnce')).toEqual([]);
  });

  it('hostStepsAtOnce: flags two steps whose runs overlap (a host without the lock)', async () => {
    const [id = ''] = await nodes(1, false);
    await sendQuiesce(id);
    await fx.cloud.ssm.settled();
    const history = fx.cloud.ssm.commandHistory();
    const overlapping = history.map((r) => ({ ...r, ranAt: 0, ranUntil: Number.MAX_SAFE_INTEGER }));
    fx.cloud.ssm.commandHistory = () => overlapping;
    expect(only('hostStepsAtOnce').join()).toContain(id);
  });

  it('preparedAfterQuiesce: flags a prepare-node that succeeded after quiesce-node on the same instance', async () => {
    const [id = ''] = await nodes(1, false);
    expect(only('preparedAfterQuiesce')).toEqual([]);
    await sendQuiesce(id);
    await fx.cloud.clock.sleep(10_000);
    expect(only('preparedAfterQuiesce')).toEqual([]);
    // Act: a host without the fence (the recording executor says ok) prepares it again
    await fx.clients.ssm.send(
      new SendCommandCommand({
        DocumentName: fx.settings.documents.prepareNode,
        InstanceIds: [id],
        Parameters: {
          VolumeIds: [fx.sets[0]?.volumeIds[0] ?? ''],
          MountPoint: [fx.settings.mountPoint],
          Filesystem: [fx.settings.filesystem],
        },
      }),
    );
    await fx.cloud.clock.sleep(10_000);
    expect(only('preparedAfterQuiesce').join()).toContain(id);
  });

  it('volumeInOtherZone: holds, because EC2 refuses the attachment (InvalidVolume.ZoneMismatch)', async () => {
    const [a = ''] = await nodes(1, false);
    const other = fx.seedSet({ availabilityZone: 'eu-west-1b' });
    const zoneOfA = fx.cloud.ec2.instance(a)?.availabilityZone;
    const volume = zoneOfA === 'eu-west-1b' ? fx.seedSet({ availabilityZone: 'eu-west-1a' }) : other;
    expect(() =>
      fx.cloud.ec2.handle('AttachVolume', {
        VolumeId: volume.volumeIds[0],
        InstanceId: a,
        Device: '/dev/sdz',
      }),
    ).toThrow(/ZoneMismatch|availability zone/);
    expect(only('volumeInOtherZone')).toEqual([]);
  });

  it('nodeWithoutAlarm and alarmOfGoneInstance: a node whose alarm was deleted, an alarm of a terminated instance', async () => {
    const [a = '', b = ''] = await nodes(2);
    fx.cloud.cloudwatch.handle('DeleteAlarms', { AlarmNames: [alarmName(fx.settings, a)] });
    fx.cloud.ec2.terminateInstance(b);
    await fx.cloud.clock.sleep(120_000);
    expect(only('nodeWithoutAlarm').join()).toContain(a);
    expect(only('alarmOfGoneInstance').join()).toContain(b);
  });

  it('nodeIdVolumeDeleted: a NodeID volume that may hold data is deleted (ever, not only at the end)', async () => {
    await nodes(1, false);
    const spare = fx.seedSet();
    expect(only('nodeIdVolumeDeleted')).toEqual([]);
    fx.cloud.ec2.handle('DeleteVolume', { VolumeId: spare.volumeIds[0] });
    expect(only('nodeIdVolumeDeleted').join()).toContain(spare.volumeIds[0]);
  });

  it('volumeDetachedWhileMounted: reports each detach the host model saw of a mounted volume', async () => {
    const [id = ''] = await nodes(1, false);
    const volumeId = fx.sets[0]?.volumeIds[0] ?? '';
    const found = checkInvariants({
      cloud: fx.cloud,
      seededVolumeIds: [],
      createdVolumeIds: [],
      joinedVolumeIds: new Set(),
      pendingActions: [],
      timedOutActions: [],
      detachedWhileMounted: [{ volumeId, instanceId: id, by: 'launch' }],
    });
    expect(found.filter((v) => v.invariant === 'volumeDetachedWhileMounted').map((v) => v.detail)).toEqual([
      `${volumeId} was detached from ${id} while mounted there (by launch)`,
    ]);
  });
});
