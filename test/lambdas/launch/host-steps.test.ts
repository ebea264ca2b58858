/**
 * Runs that send the same host step to one instance at once (two deliveries of one event, a
 * retried invocation, the reconciler) need no coordination in the Lambdas: every agent script takes
 * its host's lock, so their commands execute one after another and the later one finds the work
 * done (the local cloud's SSM agent runs them in turn, as the lock does). A retried run adopts a
 * command still in flight instead of sending another. Shown through the handlers on the local cloud.
 */
import { runScript } from '../../../lambdas/aws/run-command';
import { launch, reconcile, terminate } from '../../helpers/handlers';
import { CloudFixture, LAUNCH_EVENT, pluggedFixtures, TERMINATE_EVENT } from '../../helpers/cloud-fixture';

describe('host steps sent by runs at once', () => {
  let fx: CloudFixture;
  const fixture = pluggedFixtures();

  const commands = (instanceId: string, documentName: string) =>
    fx.cloud.ssm
      .commandHistory()
      .filter((i) => i.instanceId === instanceId && i.documentName === documentName);
  const prepares = (instanceId: string) => commands(instanceId, fx.settings.documents.prepareNode);
  /** Whether any two host steps on the instance executed at once. */
  const overlapping = (instanceId: string) => {
    const ran = fx.cloud.ssm
      .commandHistory()
      .filter((i) => i.instanceId === instanceId && i.ranAt !== undefined)
      .sort((a, b) => (a.ranAt ?? 0) - (b.ranAt ?? 0));
    return ran.some((r, i) => i > 0 && (ran[i - 1]?.ranUntil ?? Infinity) > (r.ranAt ?? 0));
  };

  /** A launch whose run dies right after `call` took effect (its answer lost), then revived. */
  async function launchKilledAfter(call: string): Promise<{ id: string; event: unknown }> {
    const [id = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, id);
    fx.cloud.faults.killAfterCall(call);
    await expect(launch(event)).rejects.toThrow('handler killed');
    fx.cloud.faults.revive();
    return { id, event };
  }
  /** The node's prepared mark is gone (its set changed, say): the reconciler re-prepares it. */
  const dropMark = (id: string) =>
    fx.cloud.ec2.handle('DeleteTags', { Resources: [id], Tags: [{ Key: 'berth:prepared' }] });

  it('two deliveries of one launch event at once: the run that lost the primary stands down, one prepare-node runs', async () => {
    // Prepare: both runs reach the claim in the same (virtual) millisecond.
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    const event = fx.takeEvent(LAUNCH_EVENT, id);
    // Act
    const outcomes = await Promise.all(
      [launch(event), launch(structuredClone(event))].map((run) =>
        run.then(
          (o) => o.result,
          (error: unknown) => String(error),
        ),
      ),
    );
    // Assess: one run made the node, the other stood down; no SSM parameter written.
    expect(outcomes[0]).toBe('node');
    expect(outcomes[1]).toMatch(/another run of this launch/);
    expect(prepares(id)).toHaveLength(1);
    expect(prepares(id).every((p) => p.status === 'Success')).toBe(true);
    expect(overlapping(id)).toBe(false);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
    expect(fx.cloud.ssm.parameterNames()).toEqual([]);
    expect(fx.cloud.accounting.count('ssm:PutParameter')).toBe(0);
  });

  it('a run whose command found the host busy past the lock wait adopts the step that held it', async () => {
    // Prepare: a node whose prepared mark is gone; prepare-node now takes 2 minutes on this host;
    // a script waits 1 minute for the lock.
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'node' });
    dropMark(id);
    const before = prepares(id).length;
    fx.cloud.ssm.hostLockWaitMs = 60_000;
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 120_000,
    });
    // Act: two reconcile runs at once re-prepare it; the second run's command gives up waiting
    const reports = await Promise.all([reconcile({}), reconcile({})]);
    // Assess: both report the re-prepare done; one command did the work, the other did nothing
    expect(reports.map((r) => r.reprepared.map((p) => p.ok))).toEqual([[true], [true]]);
    const statuses = prepares(id).map((p) => p.status);
    expect(statuses).toContain('Success');
    expect(
      prepares(id)
        .slice(before)
        .filter((p) => p.ranAt !== undefined),
    ).toHaveLength(1);
    expect(fx.cloud.autoscaling.lifecycleState(id)).toBe('InService');
  });

  it("a grow-filesystem that found the host busy never adopts another volume's grow: it is sent again", async () => {
    // Prepare: a node; a grow-filesystem of volume A holds its host for 100 s; scripts wait 60 s
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'node' });
    fx.cloud.ssm.hostLockWaitMs = 60_000;
    fx.cloud.ssm.recorder.respond('grow-filesystem.sh', (r) => ({
      stdout: `${JSON.stringify({ ok: true, action: 'grow-filesystem', volumeId: r.parameters.VolumeId })}\n`,
      durationMs: 100_000,
    }));
    const grow = (volumeId: string) =>
      runScript(fx.deps(), id, 'growFilesystem', {
        Mode: 'add-device',
        VolumeId: volumeId,
        DeviceName: '/dev/sdg',
        MountPoint: fx.settings.mountPoint,
      });
    const first = grow('vol-0aaaaaaaaaaaaaaa1');
    await fx.cloud.clock.sleep(5_000);
    // Act
    const second = await grow('vol-0bbbbbbbbbbbbbbb2');
    await first;
    // Assess: the answer is its own volume's, from a command that ran after A's
    expect(second.result).toMatchObject({ ok: true, volumeId: 'vol-0bbbbbbbbbbbbbbb2' });
    const grows = commands(id, fx.settings.documents.growFilesystem);
    expect(grows.filter((g) => g.ranAt !== undefined)).toHaveLength(2);
    expect(grows.length).toBeGreaterThan(2);
  });

  it('a run killed right after SendCommand: the retry adopts the command still in flight', async () => {
    // Prepare: the host step runs for 5 minutes.
    fx = fixture({ sets: 1 });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 300_000,
    });
    const { id, event } = await launchKilledAfter('SendCommand');
    // Act
    const outcome = await launch(structuredClone(event));
    // Assess: one prepare-node, adopted
    expect(outcome).toMatchObject({ result: 'node', resumed: true });
    expect(prepares(id)).toHaveLength(1);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('runs killed one after another after adopting the command: every retry still adopts it, none sends another', async () => {
    // Prepare: the host step runs for 5 minutes; the first run dies after SendCommand, the second
    // adopts the command and dies too.
    fx = fixture({ sets: 1 });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 300_000,
    });
    const { id, event } = await launchKilledAfter('SendCommand');
    await fx.cloud.clock.sleep(61_000);
    fx.cloud.faults.killAfterCall('GetCommandInvocation');
    await expect(launch(structuredClone(event))).rejects.toThrow('handler killed');
    fx.cloud.faults.revive();
    await fx.cloud.clock.sleep(61_000);
    // Act
    const outcome = await launch(structuredClone(event));
    // Assess: one prepare-node, adopted by both retries
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id)).toHaveLength(1);
    expect(fx.cloud.autoscaling.timedOutActions()).toEqual([]);
  });

  it('a retry after the command ended sends its own prepare-node: the host finds the set prepared', async () => {
    // Prepare: the run dies right after SendCommand; its command ends before the retry
    fx = fixture({ sets: 1 });
    const { id, event } = await launchKilledAfter('SendCommand');
    await fx.cloud.clock.sleep(60_000);
    // Act
    const outcome = await launch(structuredClone(event));
    // Assess: prepared (the script is idempotent), the steps one after the other
    expect(outcome).toMatchObject({ result: 'node', resumed: true });
    expect(prepares(id)).toHaveLength(2);
    expect(overlapping(id)).toBe(false);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
  });

  it('a SendCommand that took effect but answered a server error is not sent again: the command is looked up and adopted', async () => {
    // Prepare: SSM runs the command, then its answer is lost to an InternalError
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    fx.cloud.faults.failNext('SendCommand', 'InternalError', { when: 'after' });
    // Act
    const outcome = await launch(fx.takeEvent(LAUNCH_EVENT, id));
    // Assess: one prepare-node (no retry of the call, SDK's or berth's), the node prepared
    expect(outcome).toMatchObject({ result: 'node' });
    expect(prepares(id)).toHaveLength(1);
  });

  it("reconcile's re-prepare while the launch's prepare-node runs waits for that command", async () => {
    // Prepare: the launch's host step takes 5 minutes; the reconciler comes meanwhile
    fx = fixture({ sets: 1 });
    fx.cloud.ssm.recorder.respond('prepare-node.sh', {
      stdout: '{"ok":true,"action":"prepare-node"}\n',
      durationMs: 300_000,
    });
    const [id = ''] = fx.launch(1);
    const launched = launch(fx.takeEvent(LAUNCH_EVENT, id));
    await fx.cloud.clock.sleep(120_000);
    expect(prepares(id)).toHaveLength(1);
    // Act
    await Promise.all([launched, reconcile({}), reconcile({})]);
    // Assess: still the one command
    expect(prepares(id)).toHaveLength(1);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
  });

  it("reconcile's re-prepare by two runs at once: the host runs their commands in turn", async () => {
    // Prepare: a node whose prepared mark is gone (its last prepare never succeeded).
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    expect(await launch(fx.takeEvent(LAUNCH_EVENT, id))).toMatchObject({ result: 'node' });
    dropMark(id);
    // Act
    await Promise.all([reconcile({}), reconcile({})]);
    // Assess
    expect(overlapping(id)).toBe(false);
    expect(fx.cloud.ec2.instance(id)?.tags['berth:prepared']).toBe(fx.sets[0]?.nodeId);
  });

  it('two deliveries of one terminate event at once: quiesce-node runs in turn, the set is released once', async () => {
    // Prepare: a node, then its termination; both deliveries run in the same millisecond
    fx = fixture({ sets: 1 });
    const [id = ''] = fx.launch(1);
    await launch(fx.takeEvent(LAUNCH_EVENT, id));
    fx.cloud.autoscaling.terminateInstance(id, { decrementCapacity: true });
    const event = fx.takeEvent(TERMINATE_EVENT, id);
    // Act
    const outcomes = await Promise.all([terminate(event), terminate(structuredClone(event))]);
    // Assess
    const quiesces = commands(id, fx.settings.documents.quiesceNode);
    expect(quiesces.length).toBeGreaterThanOrEqual(1);
    expect(overlapping(id)).toBe(false);
    expect(outcomes.map((o) => o.result)).toContain('released');
    expect(fx.cloud.ec2.volume(fx.sets[0]?.volumeIds[0] ?? '')?.state).toBe('available');
  });
});
